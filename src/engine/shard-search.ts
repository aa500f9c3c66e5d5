// Search within one shard. Candidates from the vector index are re-scored from the stored float32
// rows, so distances are exact (also under f16, int8 and binary) and comparable across shards; rows
// not indexed yet (shard.ts) are scored exactly beside them.
// Oversampling (policies rescore and oversample): with rescore on, the index is asked for
// ceil(k × oversample) candidates (ef at least that many) and the k nearest by exact distance are
// kept, which wins back what int8 and binary lose in ranking; with rescore off, the index's own k.
// A filtered search returns k rows whenever k rows match, by the cheapest of:
//   1. the payload index narrows the filter to ≤ exactSearchMaxRows slots → exact search over them;
//   2. a sample says few rows match (≤ exactSearchMaxRows expected) → exact search over a scan;
//   3. HNSW with a candidate list sized by the estimated selectivity, widened ×4 until k rows match,
//      then, past maxSearchCandidates or when the graph walk cannot reach enough rows, a scan.
import { SqlState, VectorgateError } from '../errors.ts';
import { compileFilter, type CompiledFilter, type FilterLimits } from './filter.ts';
import type { Shard } from './shard.ts';
import { TopK } from './top-k.ts';
import { checkSearchArgs, type Quantization } from './vector-index.ts';
import { normalizedCopy, reportedDistance } from './vector-math.ts';

export interface SearchLimits extends FilterLimits {
  maxK: number;
  maxEf: number;
  defaultEfSearch: number;
  exactSearchMaxRows: number;
  exactScanMaxRows: number;
  maxSearchCandidates: number;
  maxOversample: number;
  defaultOversampleInt8: number;
  defaultOversampleBinary: number;
}

export interface SearchOptions {
  ef?: number;
  /** Filter JSON text or an already parsed filter object. */
  filter?: unknown;
  /** Candidates per wanted row when rescoring; absent: the default of the index's quantization. */
  oversample?: number;
  /** Absent: on. Off asks the index for k candidates only (still reported with exact distances). */
  rescore?: boolean;
}

export interface ShardHit { id: string; distance: number; payload: string | null }

/** How one shard answered a search, for EXPLAIN: the strategy chosen and why, and the work done. */
export interface SearchTrace {
  strategy: 'hnsw' | 'exact over payload-index matches' | 'exact over a scan' | 'hnsw, widened' | 'scan after widening';
  reason: string;
  rows: number;
  ef: number;
  /** HNSW candidate list sizes tried, in order. */
  candidates: number[];
  /** Rows whose distance was computed exactly. */
  rescored: number;
  selectivity?: number;
  /** Whether candidates were oversampled for rescoring, and by how much (1 when off). */
  rescore?: boolean;
  oversample?: number;
}

const SAMPLE_ROWS = 512;
const WIDEN_FACTOR = 4;

export function checkSearchLimits(k: number, ef: number, limits: SearchLimits): void {
  if (!Number.isInteger(k) || k < 1) throw new VectorgateError(SqlState.InvalidParameterValue, `k must be a positive integer, got ${k}`);
  if (k > limits.maxK) throw new VectorgateError(SqlState.ProgramLimitExceeded, `k ${k} exceeds the limit of ${limits.maxK}`);
  if (!Number.isInteger(ef) || ef < 1) throw new VectorgateError(SqlState.InvalidParameterValue, `ef must be a positive integer, got ${ef}`);
  if (ef > limits.maxEf) throw new VectorgateError(SqlState.ProgramLimitExceeded, `ef ${ef} exceeds the limit of ${limits.maxEf}`);
}

export function checkOversample(oversample: number | undefined, limits: SearchLimits): void {
  if (oversample === undefined) return;
  if (!Number.isFinite(oversample) || oversample < 1 || oversample > limits.maxOversample) {
    throw new VectorgateError(SqlState.InvalidParameterValue, `oversample must be a number from 1 to ${limits.maxOversample}, got ${oversample}`);
  }
}

/** The oversample a search gets when none is set: full-precision kinds need none. */
export function defaultOversample(quantization: Quantization, limits: SearchLimits): number {
  if (quantization === 'int8') return limits.defaultOversampleInt8;
  if (quantization === 'binary') return limits.defaultOversampleBinary;
  return 1;
}

/** Candidates to ask the index for when k rows are wanted, at most maxSearchCandidates (never fewer than k). */
function oversampled(k: number, t: SearchTrace, limits: SearchLimits): number {
  return Math.max(k, Math.min(Math.ceil(k * t.oversample!), limits.maxSearchCandidates));
}

/**
 * searchShard for several queries with the same k and options: the unfiltered HNSW walks of all of
 * them in one index call (searchMany, every core), then each query's rescoring as usual. A query the
 * shard refuses gets its error in its place; the others are answered.
 */
export function searchShardMany(shard: Shard, queries: readonly Float32Array[], k: number, options: SearchOptions): (ShardHit[] | Error)[] {
  const out: (ShardHit[] | Error)[] = queries.map(() => []);
  const ok: number[] = [];
  queries.forEach((query, i) => {
    try {
      checkSearchArgs(shard.spec, query, k, options.ef ?? shard.limits.defaultEfSearch);
      ok.push(i);
    } catch (err) {
      out[i] = err as Error;
    }
  });
  if ((options.filter !== undefined && options.filter !== null) || shard.count <= shard.limits.exactScanMaxRows || ok.length < 2) {
    for (const i of ok) out[i] = attempt(() => searchShard(shard, queries[i]!, k, options));
    return out;
  }
  const walk = unfilteredWalk(shard, k, options);
  const labels = attempt(() => shard.index.searchMany(ok.map((i) => queries[i]!), walk.candidates, walk.ef));
  ok.forEach((i, j) => { out[i] = attempt(() => searchShard(shard, queries[i]!, k, options, null, labels instanceof Error ? undefined : labels[j])); });
  return out;
}

function attempt<T>(fn: () => T): T | Error {
  try { return fn(); } catch (err) { return err instanceof Error ? err : new Error(String(err)); }
}

/** The candidate count and ef of an unfiltered search's HNSW walk (what searchShard asks the index for). */
function unfilteredWalk(shard: Shard, k: number, options: SearchOptions): { candidates: number; ef: number } {
  const ef = options.ef ?? shard.limits.defaultEfSearch;
  const rescore = options.rescore ?? true;
  const oversample = rescore ? options.oversample ?? defaultOversample(shard.spec.quantization, shard.limits) : 1;
  const candidates = Math.max(k, Math.min(Math.ceil(k * oversample), shard.limits.maxSearchCandidates));
  return { candidates, ef: Math.max(ef, candidates) };
}

/** prefetched: the labels of this query's unfiltered HNSW walk, already searched (searchShardMany). */
export function searchShard(shard: Shard, query: Float32Array, k: number, options: SearchOptions, trace: SearchTrace | null = null, prefetched?: readonly number[]): ShardHit[] {
  const ef = options.ef ?? shard.limits.defaultEfSearch;
  const t: SearchTrace = trace ?? { strategy: 'hnsw', reason: '', rows: 0, ef, candidates: [], rescored: 0 };
  t.ef = ef;
  t.rows = shard.count;
  checkSearchLimits(k, ef, shard.limits);
  checkOversample(options.oversample, shard.limits);
  checkSearchArgs(shard.spec, query, k, ef);
  t.rescore = options.rescore ?? true;
  t.oversample = t.rescore ? options.oversample ?? defaultOversample(shard.spec.quantization, shard.limits) : 1;
  const filter = options.filter === undefined || options.filter === null ? null : compileFilter(options.filter, shard.limits);
  const q = shard.spec.metric === 'cosine' ? normalizedCopy(query, shard.spec.dims) : query;
  if (shard.count === 0) return [];
  if (filter === null && shard.count <= shard.limits.exactScanMaxRows) {
    t.strategy = 'exact over a scan';
    t.reason = `no filter; the shard holds ${shard.count} rows (≤ exactScanMaxRows ${shard.limits.exactScanMaxRows}): a scan is exact and as fast`;
    return finish(shard, rescore(shard, q, k, shard.rows.slots(), null, t));
  }
  if (filter === null) {
    t.strategy = 'hnsw';
    t.reason = 'no filter';
    const walk = unfilteredWalk(shard, k, options);
    t.candidates.push(walk.candidates);
    const labels = prefetched ?? shard.index.search(query, walk.candidates, walk.ef).labels;
    const top = rescore(shard, q, k, withUnindexed(shard, labels), null, t);
    // Fewer than k only when deletions left rows the graph walk cannot reach: widen like a filter.
    if (top.size >= Math.min(k, shard.count)) return finish(shard, top);
    return finish(shard, widen(shard, query, q, k, ef, null, 1, t));
  }
  return finish(shard, filtered(shard, query, q, k, ef, filter, t));
}

function filtered(shard: Shard, query: Float32Array, q: Float32Array, k: number, ef: number, filter: CompiledFilter, t: SearchTrace): TopK<number> {
  const { exactSearchMaxRows } = shard.limits;
  const narrowed = shard.payloads.candidates(filter.node);
  if (narrowed !== null && narrowed.count <= exactSearchMaxRows) {
    t.strategy = 'exact over payload-index matches';
    t.reason = `the payload index narrows the filter to ${narrowed.count} rows (≤ ${exactSearchMaxRows})`;
    return rescore(shard, q, k, unique(narrowed.sets), filter, t);
  }
  const selectivity = estimateSelectivity(shard, filter);
  t.selectivity = selectivity;
  if (selectivity * shard.count <= exactSearchMaxRows) {
    t.strategy = 'exact over a scan';
    t.reason = `a sample estimates ${Math.round(selectivity * shard.count)} matching rows (≤ ${exactSearchMaxRows})`;
    return rescore(shard, q, k, shard.rows.slots(), filter, t);
  }
  t.strategy = 'hnsw, widened';
  t.reason = `a sample estimates selectivity ${selectivity.toPrecision(2)}: candidates sized for k matches`;
  return widen(shard, query, q, k, ef, filter, selectivity, t);
}

function widen(shard: Shard, query: Float32Array, q: Float32Array, k: number, ef: number, filter: CompiledFilter | null, selectivity: number, t: SearchTrace): TopK<number> {
  const { maxSearchCandidates } = shard.limits;
  let candidates = Math.min(shard.count, oversampled(Math.max(2 * k, Math.ceil((1.5 * k) / selectivity)), t, shard.limits));
  while (candidates <= maxSearchCandidates) {
    t.candidates.push(candidates);
    const labels = shard.index.search(query, candidates, Math.max(ef, candidates)).labels;
    const top = rescore(shard, q, k, withUnindexed(shard, labels), filter, t);
    if (top.size >= k) return top;
    if (candidates >= shard.count && labels.length >= shard.count) return top;
    if (candidates >= shard.count) break;
    candidates = Math.min(shard.count, candidates * WIDEN_FACTOR);
  }
  t.strategy = 'scan after widening';
  t.reason += `; fewer than k matches within ${maxSearchCandidates} candidates`;
  return rescore(shard, q, k, shard.rows.slots(), filter, t);
}

/** Share of rows that match, from an evenly spaced sample; never 0, so a miss still sizes the search. */
function estimateSelectivity(shard: Shard, filter: CompiledFilter): number {
  const limit = shard.rows.slotLimit;
  const step = Math.max(1, Math.floor(limit / SAMPLE_ROWS));
  let sampled = 0;
  let matched = 0;
  for (let slot = 0; slot < limit; slot += step) {
    if (shard.rows.idAt(slot) === undefined) continue;
    sampled++;
    if (filter.test(shard.rows.payloadAt(slot) ?? {})) matched++;
  }
  return Math.max(matched, 1) / Math.max(sampled, 1);
}

/** The index's candidates and every row stored but not indexed yet (Shard.indexPending), scored exactly. */
function* withUnindexed(shard: Shard, labels: readonly number[]): Generator<number> {
  yield* labels;
  yield* shard.unindexed;
}

function* unique(sets: readonly ReadonlySet<number>[]): Generator<number> {
  if (sets.length === 1) { yield* sets[0]!; return; }
  const seen = new Set<number>();
  for (const set of sets) for (const slot of set) if (!seen.has(slot)) { seen.add(slot); yield slot; }
}

function rescore(shard: Shard, q: Float32Array, k: number, slots: Iterable<number>, filter: CompiledFilter | null, t: SearchTrace): TopK<number> {
  const { rows, spec } = shard;
  const top = new TopK<number>(k);
  for (const slot of slots) {
    if (rows.idAt(slot) === undefined) continue;
    if (filter !== null && !filter.test(rows.payloadAt(slot) ?? {})) continue;
    t.rescored++;
    top.offer(reportedDistance(spec.metric, q, rows.vectors, slot * spec.dims, spec.dims, rows.normAt(slot)), slot);
  }
  return top;
}

/** Nearest first, equal distances by id: the order every shard answers in and the router merges by. */
export function compareHits(a: ShardHit, b: ShardHit): number {
  return a.distance - b.distance || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function finish(shard: Shard, top: TopK<number>): ShardHit[] {
  return top.entries().map(({ distance, item: slot }) => {
    const payload = shard.rows.payloadAt(slot);
    return { id: shard.rows.idAt(slot)!, distance, payload: payload === null ? null : JSON.stringify(payload) };
  }).sort(compareHits);
}

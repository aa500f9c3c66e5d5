// The collections of one database: a collection belongs to the database it was created in, its name
// is unique there, and sessions of other databases neither see nor reach it (as with tables: a name
// another database uses is 42P01 here). This view is the only way to reach a collection by name
// (Collections.in(database); local plans go through collectionsOf(ctx) in src/sql/functions).
import type { Config } from '../config.ts';
import { checkId, type StoredRow } from '../engine/shard.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import type { CollectionEntry, CollectionSpec } from '../storage/catalog.ts';
import type { CollectionInfo, ReadParams, SearchExplanation, SearchParams, SearchRow, WriteAck } from './collection-types.ts';
import type { SessionPositions } from './session-positions.ts';
import type { ReadBound } from './worker-protocol.ts';
import type { CollectionStore, CollectionUsage, WritePart } from './collection-store.ts';
import { checkPolicy, oversampleOf, resolvePolicy } from './policies.ts';
import { shardOf } from './router.ts';
import { NEVER, type CachePolicy, type PipelineAnswer, type PipelineSearch, type SearchPipeline } from './search-pipeline.ts';
import { checkBatchSize, checkCollectionName, checkCreateSpec, checkRows, checkSearch, toVector, type CreateSpec, type Row } from './validate.ts';

export type { CollectionUsage } from './collection-store.ts';

/** A collection's spec with where it belongs and who owns it. */
export type OwnedSpec = CollectionSpec & { owner: string; database: string };

export class DatabaseCollections {
  /** positions: the session's own write positions (session consistency); absent for callers without a session. */
  constructor(private readonly store: CollectionStore, private readonly pipeline: SearchPipeline, readonly database: string,
    private readonly positions: SessionPositions | null = null) {}

  get config(): Config { return this.store.config; }

  /** See CollectionStore.maxServedReplicas. */
  get maxServedReplicas(): number | null { return this.store.maxServedReplicas; }

  /** See WritePath.maxWriteBytes. */
  get maxWriteBytes(): number | null { return this.store.maxWriteBytes; }

  /** owner: current_user of the creating session. */
  async createCollection(spec: CreateSpec & { owner: string }): Promise<CollectionInfo> {
    const checked = checkCreateSpec(spec, this.config);
    const entry = await this.store.create({ ...checked, database: this.database, owner: spec.owner });
    return info(entry, 0, 0);
  }

  async dropCollection(name: string): Promise<void> {
    await this.store.drop(this.#entry(name));
  }

  /**
   * Resolves once the collection may be dropped (see CollectionStore.droppable): a drop asks first,
   * so that it does not drop the collection's relation and then find the collection still recovering.
   */
  async droppable(name: string): Promise<void> {
    await this.store.droppable(this.#entry(name));
  }

  /** Every collection of the database; one still recovering (or failed to) is listed without its row count (null). */
  async listCollections(): Promise<CollectionInfo[]> {
    return Promise.all(this.store.of(this.database).map(async (entry) => {
      if (this.store.recoveryOf(entry) !== 'ready') return info(entry, null, null);
      const stats = await this.store.stats(entry);
      return info(entry, stats.reduce((n, s) => n + s.count, 0), stats.reduce((n, s) => n + s.count - s.unindexed, 0));
    }));
  }

  /**
   * Inserts or replaces rows, all or none; resolves when every shard's part is durable and applied.
   * Everything a shard would check is checked here first, so a bad row fails the batch before any append.
   */
  async upsert(name: string, rows: readonly Row[]): Promise<WriteAck> {
    const entry = this.#entry(name);
    const checked = checkRows(rows, entry, this.config);
    const parts = new Map<number, WritePart>();
    for (const [shard, part] of groupBy(checked, (r) => shardOf(r.id, entry.shards))) {
      const vectors = new Float32Array(part.length * entry.dims);
      part.forEach((r, i) => vectors.set(r.vector, i * entry.dims));
      parts.set(shard, { upsert: { ids: part.map((r) => r.id), vectors, payloads: part.map((r) => r.payload) } });
    }
    return this.#acknowledged(entry, checked.length, await this.store.write(entry, parts));
  }

  /** Deletes rows, all or none (see upsert). */
  async delete(name: string, ids: readonly string[]): Promise<WriteAck> {
    const entry = this.#entry(name);
    checkBatchSize(ids.length, this.config);
    for (const id of ids) checkId(id, this.config.maxIdBytes);
    const parts = new Map<number, WritePart>();
    for (const [shard, part] of groupBy(ids, (id) => shardOf(id, entry.shards))) parts.set(shard, { delete: part });
    return this.#acknowledged(entry, ids.length, await this.store.write(entry, parts));
  }

  async get(name: string, id: string, read: ReadParams = {}): Promise<StoredRow | null> {
    const entry = this.#entry(name);
    checkId(id, this.config.maxIdBytes);
    const shard = shardOf(id, entry.shards);
    return this.store.get(entry, shard, id, (await this.#readBounds(entry, read))(shard));
  }

  /**
   * The k nearest rows over all shards, nearest first, or in the reranker's order (ef: params >
   * collection policy > server default; SQL resolves the session's first). The search pipeline runs
   * it: cache, coalescing, fan-out, merge, rerank (search-pipeline.ts).
   */
  async search(name: string, query: Float32Array | readonly number[], k: number, params: SearchParams = {}): Promise<SearchRow[]> {
    return (await this.searchWithAccount(name, query, k, params)).rows as SearchRow[];
  }

  /** search(), with how the cache and the rerank took part. */
  searchWithAccount(name: string, query: Float32Array | readonly number[], k: number, params: SearchParams = {}): Promise<PipelineAnswer> {
    return this.pipeline.search(this.#pipelineSearch(name, query, k, params));
  }

  /** search(), with each step's account: per shard how it was answered and how long it took, the merge, the rerank. Never cached. */
  async explainSearch(name: string, query: Float32Array | readonly number[], k: number, params: SearchParams = {}): Promise<SearchExplanation> {
    const search = this.#pipelineSearch(name, query, k, params);
    const e = await this.pipeline.explain(search);
    return { rows: e.rows, ef: search.options.ef!, k, fetched: e.fetched, shards: e.shards, fanOutMs: e.fanOutMs, mergeMs: e.mergeMs, rerankPlan: search.rerank, rerank: e.rerank,
      metric: search.entry.metric, quantization: search.entry.quantization };
  }

  #pipelineSearch(name: string, query: Float32Array | readonly number[], k: number, params: SearchParams): PipelineSearch {
    const { entry, options, vector } = this.#searchPlan(name, query, k, params);
    const rerank = params.rerank ?? null;
    if (rerank !== null && rerank.topN > this.config.maxRerankTopN) {
      throw new VectorgateError(SqlState.ProgramLimitExceeded, `rerank_top_n ${rerank.topN} exceeds maxRerankTopN ${this.config.maxRerankTopN}`);
    }
    return {
      entry, vector, k, options, rerank, bounds: () => this.#readBounds(entry, params),
      cache: cachePolicy(params), signal: params.signal ?? NEVER, remainingMs: params.remainingMs ?? (() => Infinity),
    };
  }

  /** What every shard of a search gets, checked once here. */
  #searchPlan(name: string, query: Float32Array | readonly number[], k: number, params: SearchParams) {
    const entry = this.#entry(name);
    const vector = ownBuffer(toVector(query, entry));
    const stored = (name: string) => resolvePolicy(name, { settings: NONE, localSettings: NONE_SET, collection: entry.policies, config: this.config }).value;
    const ef = params.ef ?? Number(stored('ef_search'));
    // SQL resolves every layer itself and passes undefined for auto, which must not fall back to the collection's value.
    const oversample = 'oversample' in params ? params.oversample : oversampleOf(stored('oversample'));
    const rescore = params.rescore ?? stored('rescore') === 'on';
    const filter = checkSearch(k, ef, params.filter, this.config, oversample);
    return { entry, options: { ef, filter, oversample, rescore }, vector };
  }

  async setPolicy(name: string, key: string, value: unknown): Promise<void> {
    const entry = this.#entry(name);
    await this.store.setPolicy(entry, key, checkPolicy(key, value, this.config));
  }

  policies(name: string): Record<string, string> {
    return { ...this.#entry(name).policies };
  }

  /** Snapshots every shard of the collection now (tests, benchmarks, before a planned shutdown). */
  async snapshot(name: string): Promise<void> {
    await this.store.snapshot(this.#entry(name));
  }

  /** Synchronous catalog lookup (no shard calls), e.g. to tell a COPY into a collection from one into a table; undefined when this database has none of that name. */
  spec(name: string): OwnedSpec | undefined {
    const entry = this.store.find(this.database, name);
    return entry === undefined ? undefined : ownedSpec(entry);
  }

  /** Rows and bytes (vectors × dims × 4 + payload JSON text) the collection holds now. */
  async usage(name: string): Promise<CollectionUsage> {
    return this.store.usage(this.#entry(name));
  }

  #acknowledged(entry: CollectionEntry, rows: number, positions: Record<number, number>): WriteAck {
    this.positions?.note(entry.dir, positions);
    this.pipeline.written(entry);
    return { rows, positions };
  }

  /**
   * What each shard's replica must have applied for the read's consistency level: session — this
   * session's own last writes; bounded — no further behind than maxStalenessMs; linearizable —
   * everything the log committed before the read began (its committed positions, read now).
   */
  async #readBounds(entry: CollectionEntry, read: ReadParams): Promise<(shard: number) => ReadBound | undefined> {
    const level = read.consistency ?? 'eventual';
    if (level === 'eventual') return () => undefined;
    const waitMs = Math.min(read.waitMs ?? this.config.readConsistencyMaxWaitMs, this.config.readConsistencyMaxWaitMs);
    if (level === 'bounded') return () => ({ maxStalenessMs: read.maxStalenessMs ?? this.config.defaultMaxStalenessMs, waitMs });
    const bound = (positions: ReadonlyMap<number, number>) => (shard: number): ReadBound => ({ minSeq: positions.get(shard) ?? 0, waitMs });
    if (level === 'session') {
      const own = this.positions?.of(entry.dir) ?? { kind: 'none' };
      if (own.kind === 'none') return () => undefined;
      if (own.kind === 'positions') return bound(own.positions);
    }
    // linearizable, or a session read whose own positions were forgotten (the committed ones cover them)
    return bound(await this.store.committedPositions(entry));
  }

  #entry(name: string): CollectionEntry {
    const entry = this.store.find(this.database, checkCollectionName(name, this.config));
    if (entry === undefined) throw new VectorgateError(SqlState.UndefinedTable, `collection "${name}" does not exist`);
    return entry;
  }
}

/**
 * Whether a read may be answered from the search cache (search_cache: auto — eventual reads only; on —
 * also bounded reads, with answers at most max_staleness_ms old; off). Session and linearizable reads
 * never are: an answer computed before their read began may miss what they must see.
 */
function cachePolicy(params: SearchParams): CachePolicy {
  const level = params.consistency ?? 'eventual';
  const mode = params.searchCache ?? 'auto';
  if (mode === 'off' || level === 'session' || level === 'linearizable') return { use: false, maxAgeMs: 0 };
  if (level === 'eventual') return { use: true, maxAgeMs: Infinity };
  return mode === 'on' ? { use: true, maxAgeMs: params.maxStalenessMs ?? 0 } : { use: false, maxAgeMs: 0 };
}

/** A caller of this API without a SQL session: no SET values. */
const NONE: ReadonlyMap<string, string> = new Map();
const NONE_SET: ReadonlySet<string> = new Set();

function ownedSpec(entry: CollectionEntry): OwnedSpec {
  const { name, dims, metric, shards, replicas, quantization, m, efConstruction, engine, owner, database } = entry;
  return { name, dims, metric, shards, replicas, quantization, m, efConstruction, engine, owner, database };
}

function info(entry: CollectionEntry, vectors: number | null, indexedVectors: number | null): CollectionInfo {
  return { ...ownedSpec(entry), createdAt: entry.createdAt, policies: entry.policies, vectors, indexedVectors };
}

/**
 * The query as an array that owns its whole buffer: postMessage copies a typed array's entire buffer,
 * and copying a small query beats transferring it (a transfer cost ~10 µs more per message, measured).
 */
function ownBuffer(q: Float32Array): Float32Array {
  return q.byteOffset === 0 && q.byteLength === q.buffer.byteLength ? q : q.slice();
}

function groupBy<T>(items: readonly T[], key: (item: T) => number): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const k = key(item);
    let group = groups.get(k);
    if (group === undefined) groups.set(k, (group = []));
    group.push(item);
  }
  return groups;
}

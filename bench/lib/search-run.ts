// One data set through every target: the raw engine's builds, then per quantization kind a vectorgate
// proxy (load, crash and replay, snapshot, restart, queries alternating with the raw engine), then
// pgvector. bench/search.ts runs it once per data set (a --synthetic list: once per size).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dataset } from './search-data.ts';
import { onCleanup } from './cleanup.ts';
import { buildRaw, searchRaw, type Kind, type RawIndex } from './search-raw.ts';
import { buildQuantizedRaw } from './search-raw-quantized.ts';
import { rssBytes, startProxy, type Credentials, type ProxyChild } from './search-proxy.ts';
import { connectAll, endAll, searchCacheOff } from './search-sql.ts';
import { dropCollection, loadThroughProxy, probeStatement, proxyIndexed, queryParams, queryProxy, snapshotInProcess, type CollectionOptions } from './search-vectorgate.ts';
import { runPgvector, type PgvectorResult } from './search-pgvector.ts';
import type { Measurement } from './search-report.ts';

export interface RunSettings {
  efs: number[];
  connectionCounts: number[];
  collection: Omit<CollectionOptions, 'quantization'>;
  kinds: Kind[];
  rawKinds: Kind[];
  oversample: Record<'int8' | 'binary', number>;
  /** Also SET vectorgate.oversample on the proxy's connections (only when given on the command line). */
  setOversample: boolean;
  vectorParam: 'text' | 'binary';
  warmup: number;
  rounds: number;
  credentials: Credentials;
  /** Run pgvector on this data set (the upstream has it and the base is not above --pgvector-max-rows). */
  pgvector: boolean;
  nodeFlags: string[];
  log(line: string): void;
}

/** A vectorgate collection of one kind: its figures, or why the running code refused it. */
export type KindResult = { kind: Kind; refused: string } | ({ kind: Kind } & VectorgateFigures);

export interface VectorgateFigures {
  loadSeconds: number;
  rssGrowthPerVector: number;
  /** After SIGKILL with every row only in the log: spawn → first accepted connection, → first answered vector_search, → every row in the HNSW index. */
  crashAcceptedMs: number;
  crashReadyMs: number;
  crashIndexedMs: number;
  replayOpenSeconds: number;
  snapshotSeconds: number;
  diskBytesPerVector: number;
  restartMs: number;
  rssAfterRestartPerVector: number;
  rssAfterQueriesPerVector: number;
}

export interface DatasetResult { raws: RawIndex[]; kinds: KindResult[]; rows: Measurement[]; runs: Measurement[]; pgvector: PgvectorResult | null }

/** No snapshot while loading or replaying: the crash leaves every row only in the log (1M rows are above snapshotMinLogBytes). */
const LOG_ONLY_ENV = { VECTORGATE_SNAPSHOT_MIN_LOG_BYTES: String(2 ** 40), VECTORGATE_SNAPSHOT_MAX_LOG_BYTES: String(2 ** 40) };

export const SQL_QUANTIZATION: Record<Kind, string> = { f32: 'none', f16: 'f16', int8: 'int8', binary: 'binary' };

export function vectorgateTarget(kind: Kind): string {
  return kind === 'f32' ? 'vectorgate' : `vectorgate ${kind}`;
}

export function buildRaws(data: Dataset, s: RunSettings): RawIndex[] {
  return s.rawKinds.map((kind) => {
    const raw = kind === 'f32' || kind === 'f16'
      ? buildRaw(data, kind, s.collection.m, s.collection.efConstruction)
      : buildQuantizedRaw(data, kind, s.collection.m, s.collection.efConstruction, s.oversample[kind]);
    s.log(`raw usearch ${kind} built in ${raw.buildSeconds.toFixed(1)} s, ${raw.memoryBytesPerVector.toFixed(0)} bytes/vector${raw.oversample ? `, rescoring ${raw.oversample}× k candidates` : ''}`);
    return raw;
  });
}

export async function runDataset(upstreamPort: number, data: Dataset, s: RunSettings): Promise<DatasetResult> {
  const raws = buildRaws(data, s);
  const kinds: KindResult[] = [];
  const runs: Measurement[] = [];
  for (const kind of s.kinds) {
    const dataDir = mkdtempSync(join(tmpdir(), 'vectorgate-bench-search-'));
    const removeDir = onCleanup('vectorgate data dir', () => rmSync(dataDir, { recursive: true, force: true }));
    try {
      const phase = await vectorgatePhase(upstreamPort, dataDir, data, kind, s);
      if ('refused' in phase) {
        s.log(`vectorgate ${kind}: refused by the running code (${phase.refused})`);
        kinds.push({ kind, refused: phase.refused });
        continue;
      }
      try {
        runs.push(...await queryPhase(vectorgateTarget(kind), phase.proxy, data, raws, s));
        kinds.push({ kind, ...phase.figures, rssAfterQueriesPerVector: rssBytes(phase.proxy.pid) / data.baseRows });
        await dropCollection(phase.proxy, s.credentials);
      } finally {
        await phase.proxy.stop();
      }
    } finally {
      await removeDir();
    }
  }
  const rows = medians(runs);
  let pgvector: PgvectorResult | null = null;
  if (s.pgvector) {
    s.log('pgvector: COPY, CREATE INDEX … USING hnsw, queries');
    pgvector = await runPgvector(upstreamPort, s.credentials, data, s.efs, s.connectionCounts, s.collection.m, s.collection.efConstruction, s.warmup);
    rows.push(...pgvector.measurements);
  }
  return { raws, kinds, rows, runs, pgvector };
}

type Phase = { refused: string } | { proxy: ProxyChild; figures: Omit<VectorgateFigures, 'rssAfterQueriesPerVector'> };

/** Load; SIGKILL; restart (timed: the crash replay); stop; snapshot in-process; start again (timed). */
async function vectorgatePhase(upstreamPort: number, dataDir: string, data: Dataset, kind: Kind, s: RunSettings): Promise<Phase> {
  const { credentials, log } = s;
  const first = await startProxy({ upstreamPort, dataDir, credentials, probe: 'SELECT 1', env: LOG_ONLY_ENV });
  log(`vectorgate ${kind}: pid ${first.pid}; COPY ${data.baseRows} vectors into ${s.collection.shards} shard(s)`);
  const load = await loadThroughProxy(first, credentials, data, { ...s.collection, quantization: SQL_QUANTIZATION[kind] });
  if ('refused' in load) {
    await first.stop();
    return load;
  }
  log(`loaded and indexed in ${load.seconds.toFixed(1)} s (${(data.baseRows / load.seconds).toFixed(0)} vectors/s), every write durable; kill -9`);
  await first.crash();
  const restarted = performance.now();
  const replayed = await startProxy({ upstreamPort, dataDir, credentials, probe: probeStatement(data), env: LOG_ONLY_ENV });
  await proxyIndexed(replayed, credentials, data.baseRows);
  const crashIndexedMs = performance.now() - restarted;
  log(`after the crash: first connection accepted after ${replayed.acceptedMs.toFixed(0)} ms, first vector_search answered after ${replayed.readyMs.toFixed(0)} ms, every row indexed after ${crashIndexedMs.toFixed(0)} ms`);
  await replayed.stop();
  const snap = await snapshotInProcess(dataDir, credentials.database, data);
  log(`in-process open with log replay ${snap.replayOpenSeconds.toFixed(1)} s, snapshot ${snap.snapshotSeconds.toFixed(1)} s, ${snap.diskBytesPerVector.toFixed(0)} bytes/vector on disk`);
  const proxy = await startProxy({ upstreamPort, dataDir, credentials, probe: probeStatement(data), nodeFlags: s.nodeFlags });
  log(`restart from the snapshot: first query answered after ${proxy.readyMs.toFixed(0)} ms`);
  return {
    proxy,
    figures: {
      loadSeconds: load.seconds, rssGrowthPerVector: load.rssBytesPerVector, crashAcceptedMs: replayed.acceptedMs, crashReadyMs: replayed.readyMs, crashIndexedMs,
      ...snap, restartMs: proxy.readyMs, rssAfterRestartPerVector: rssBytes(proxy.pid) / data.baseRows,
    },
  };
}

/** `rounds` times, for each ef: every raw index, then the proxy at each connection count. */
async function queryPhase(target: string, proxy: ProxyChild, data: Dataset, raws: RawIndex[], s: RunSettings): Promise<Measurement[]> {
  const params = queryParams(data, s.vectorParam);
  const pools = await Promise.all(s.connectionCounts.map((n) => connectAll(proxy.port, s.credentials, n)));
  const runs: Measurement[] = [];
  try {
    await searchCacheOff(pools.flat());
    if (s.setOversample) {
      const kind = target.split(' ')[1] as 'int8' | 'binary' | undefined;
      // Refused by code without the setting: the proxy's own default applies, and the log says so.
      if (kind === 'int8' || kind === 'binary') {
        await Promise.all(pools.flat().map((c) => c.query(`SET vectorgate.oversample = ${s.oversample[kind]}`)))
          .catch((err: unknown) => s.log(`SET vectorgate.oversample refused (${err instanceof Error ? err.message : String(err)}); the proxy's default applies`));
      }
    }
    // The restarted proxy serves an mmap view of the snapshot: one pass at the largest ef pages the
    // graph in, so the first ef measured does not pay for it.
    await queryProxy(target, proxy, pools[0]!, params, data, Math.max(...s.efs), 0);
    // Rounds outermost: every ef's runs are spread over the whole phase, so a slow minute on a shared
    // host weighs on every ef alike instead of on whichever ef was measured then.
    for (let round = 1; round <= s.rounds; round++) {
      for (const ef of s.efs) {
        const batch: Measurement[] = [];
        for (const raw of raws) batch.push(searchRaw(raw, data, 10, ef, s.warmup));
        for (const clients of pools) batch.push(await queryProxy(target, proxy, clients, params, data, ef, s.warmup));
        runs.push(...batch);
        s.log(`round ${round}/${s.rounds}  ef ${String(ef).padStart(4)}  ${batch.map((r) => `${r.target} ${r.connections}c ${r.qps.toFixed(0)} QPS ${r.recall.toFixed(4)}`).join(', ')}`);
      }
    }
  } finally {
    await Promise.all(pools.map(endAll));
  }
  return runs;
}

/** Per target, connection count and ef, the run with the median QPS. */
export function medians(runs: Measurement[]): Measurement[] {
  const series = new Map<string, Measurement[]>();
  for (const m of runs) {
    const key = `${m.target}/${m.connections}/${m.ef}`;
    series.set(key, [...(series.get(key) ?? []), m]);
  }
  return [...series.values()].map((list) => list.sort((a, b) => a.qps - b.qps)[Math.floor((list.length - 1) / 2)]!)
    .sort((a, b) => a.target.localeCompare(b.target) || a.connections - b.connections || a.ef - b.ef);
}

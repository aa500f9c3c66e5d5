// The vectorgate side of the search benchmark: create + COPY through the proxy child (every write
// acknowledged only once fsync'd), a snapshot taken in-process on the stopped proxy's data directory
// (the SQL surface has no snapshot call, and 100k rows stay below snapshotMinLogBytes), and queries.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type pg from 'pg';
import { makeConfig } from '../../src/config.ts';
import { Collections } from '../../src/router/collections.ts';
import { row, type Dataset } from './search-data.ts';
import { rssBytes, type Credentials, type ProxyChild } from './search-proxy.ts';
import { connectAll, copyBase, endAll, runQueries, vectorText } from './search-sql.ts';
import type { Measurement } from './search-report.ts';
import { binaryRow } from '../../src/cli/load-encode.ts';
import { cpuMicros } from './processes.ts';

export const COLLECTION = 'bench';

/** `quantization` is the SQL name ('none', 'f16', 'int8', 'binary'), passed through as given: the running code decides. */
export interface CollectionOptions { shards: number; quantization: string; m: number; efConstruction: number }

export type LoadResult = { seconds: number; rssBytesPerVector: number } | { refused: string };

/** Create + COPY; a create the running code refuses as invalid or unsupported (e.g. a quantization it does not know) is reported, not thrown. */
export async function loadThroughProxy(proxy: ProxyChild, credentials: Credentials, data: Dataset, options: CollectionOptions): Promise<LoadResult> {
  const [client] = await connectAll(proxy.port, credentials, 1);
  try {
    try {
      await client!.query(`SELECT vector_create_collection($1, $2, metric => $3, shards => $4, quantization => $5, m => $6, ef_construction => $7)`,
        [COLLECTION, data.dims, data.metric, options.shards, options.quantization, options.m, options.efConstruction]);
    } catch (err) {
      // Invalid parameter (22…) or not supported (0A…): the running code does not have this kind.
      // Anything else (e.g. 42P07, a leftover collection) is the benchmark's own fault and stops it.
      const e = err as { code?: string; message?: string };
      if (!e.code || !/^(22|0A)/.test(e.code)) throw err;
      return { refused: `${e.code}: ${e.message ?? ''}` };
    }
    const before = rssBytes(proxy.pid);
    const started = performance.now();
    await copyBase(client!, `COPY ${COLLECTION} (id, vector) FROM STDIN (FORMAT binary)`, data);
    // Load + index: until every row is in the HNSW index, not only acknowledged (the inline host
    // indexes in steps after the ack; rows not indexed yet are searched exactly meanwhile).
    await untilIndexed(client!, data.baseRows);
    const seconds = (performance.now() - started) / 1000;
    return { seconds, rssBytesPerVector: (rssBytes(proxy.pid) - before) / data.baseRows };
  } finally {
    await endAll([client!]);
  }
}

/** Waits until the collection holds `rows` rows, all of them in its HNSW index (vector_collections). */
export async function untilIndexed(client: pg.Client, rows: number): Promise<void> {
  for (;;) {
    const count = await client.query<{ vectors: string | null; indexed_vectors: string | null }>(`SELECT vectors, indexed_vectors FROM vector_collections() WHERE name = $1`, [COLLECTION]);
    const { vectors, indexed_vectors: indexed } = count.rows[0] ?? { vectors: null, indexed_vectors: null };
    if (vectors !== null && Number(vectors) !== rows) throw new Error(`the collection holds ${vectors} vectors, expected ${rows}`);
    if (indexed !== null && Number(indexed) === rows) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Connects to the proxy and waits until every row is indexed (see untilIndexed). */
export async function proxyIndexed(proxy: ProxyChild, credentials: Credentials, rows: number): Promise<void> {
  const [client] = await connectAll(proxy.port, credentials, 1);
  try {
    await untilIndexed(client!, rows);
  } finally {
    await endAll([client!]);
  }
}

/** Drops the collection (its rows live in the upstream's vectorgate schema too), so the next kind or size can create it again. */
export async function dropCollection(proxy: ProxyChild, credentials: Credentials): Promise<void> {
  const [client] = await connectAll(proxy.port, credentials, 1);
  try {
    await client!.query('SELECT vector_drop_collection($1)', [COLLECTION]);
  } finally {
    await endAll([client!]);
  }
}

export interface SnapshotResult { replayOpenSeconds: number; snapshotSeconds: number; diskBytesPerVector: number }

/** On the stopped proxy's data: open (= replay of the whole log), snapshot, close; the collection is the one loadThroughProxy made in `database`. */
export async function snapshotInProcess(dataDir: string, database: string, data: Dataset): Promise<SnapshotResult> {
  const vectors = join(dataDir, 'vectors');
  const t0 = performance.now();
  const collections = await Collections.open(vectors, makeConfig({ dataDir }));
  const t1 = performance.now();
  try {
    await collections.in(database).snapshot(COLLECTION);
  } finally {
    await collections.close();
  }
  const t2 = performance.now();
  const du = spawnSync('du', ['-sb', vectors], { encoding: 'utf8' });
  const bytes = Number(du.stdout.split('\t')[0]);
  return { replayOpenSeconds: (t1 - t0) / 1000, snapshotSeconds: (t2 - t1) / 1000, diskBytesPerVector: bytes / data.baseRows };
}

export function probeStatement(data: Dataset): string {
  return `SELECT id FROM vector_search('${COLLECTION}', '${vectorText(row(data.queries, data.dims, 0))}', 10)`;
}

/** The vector of each query as a parameter: pgvector text, or binary (vector_send). */
export function queryParams(data: Dataset, form: 'text' | 'binary'): (string | Buffer)[] {
  return Array.from({ length: data.queryRows }, (_, q) => {
    const v = row(data.queries, data.dims, q);
    // The binary form is the vector field of a binary COPY row: skip its field count, id and length.
    return form === 'text' ? vectorText(v) : binaryRow('', v).subarray(2 + 4 + 4);
  });
}

/** All queries at one ef over the given connections, with a prepared vector_search. */
export async function queryProxy(target: string, proxy: ProxyChild, clients: pg.Client[], params: (string | Buffer)[], data: Dataset, ef: number, warmup: number): Promise<Measurement> {
  let cpu0 = 0;
  const m = await runQueries({
    target, clients, ef, k: 10, warmup,
    statement: 'SELECT id FROM vector_search($1, $2, 10, ef => $3)',
    params: (q) => [COLLECTION, params[q], ef],
    onStart: () => { cpu0 = cpuMicros(proxy.pid); },
  }, data);
  return { ...m, proxyCpuUs: (cpuMicros(proxy.pid) - cpu0) / data.queryRows };
}

// Loading and querying over SQL with node-postgres, as an application would: COPY in through the same
// code as `vectorgate load`, then the queries shared out over C connections (each runs one prepared
// statement at a time; C connections keep C queries in flight).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { binaryHeader, binaryRow, binaryTrailer } from '../../src/cli/load-encode.ts';
import { recall, type Dataset } from './search-data.ts';
import type { Credentials } from './search-proxy.ts';
import type { Measurement } from './search-report.ts';

export async function connectAll(port: number, credentials: Credentials, count: number): Promise<pg.Client[]> {
  const clients = Array.from({ length: count }, () => new pg.Client({ host: '127.0.0.1', port, ...credentials }));
  await Promise.all(clients.map((c) => c.connect()));
  return clients;
}

/**
 * SET vectorgate.search_cache = off on every connection: these benchmarks measure searches, and they
 * repeat the same queries every round, which the cache would answer (bench:rerank measures the cache).
 * A proxy without the setting refuses it; then nothing is cached anyway.
 */
export async function searchCacheOff(clients: pg.Client[]): Promise<void> {
  await Promise.all(clients.map((c) => c.query('SET vectorgate.search_cache = off').catch(() => undefined)));
}

export async function endAll(clients: pg.Client[]): Promise<void> {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
}

/** Binary COPY of the base set (ids are row numbers), 2,000 rows per CopyData message; seconds taken. */
export async function copyBase(client: pg.Client, statement: string, data: Dataset): Promise<number> {
  const perChunk = 2000;
  function* chunks(): Generator<Buffer> {
    yield binaryHeader();
    for (let first = 0; first < data.baseRows; first += perChunk) {
      const rows: Buffer[] = [];
      for (let i = first; i < Math.min(first + perChunk, data.baseRows); i++) rows.push(binaryRow(String(i), data.base, undefined, i * data.dims, data.dims));
      yield Buffer.concat(rows);
    }
    yield binaryTrailer();
  }
  const started = performance.now();
  await pipeline(Readable.from(chunks()), client.query(copyFrom(statement)));
  return (performance.now() - started) / 1000;
}

/** pgvector's text form; node-postgres sends parameters as text. */
export function vectorText(v: Float32Array): string {
  return `[${Array.from(v).join(',')}]`;
}

export interface QueryRun {
  target: string;
  clients: pg.Client[];
  /** The statement text and its parameters for query q; the first column of the result is the id. */
  statement: string;
  params: (q: number) => unknown[];
  ef: number;
  k: number;
  warmup: number;
  /** Called after the warm-up, just before the timed run. */
  onStart?: () => void;
}

/** Runs every query once over all clients (a shared cursor), timing the whole and each query. */
export async function runQueries(run: QueryRun, data: Dataset): Promise<Measurement> {
  const name = `knn_${run.clients.length}`;
  const one = (client: pg.Client, q: number) => client.query({ name, text: run.statement, values: run.params(q), rowMode: 'array' });
  await Promise.all(run.clients.map(async (client, c) => {
    for (let q = c; q < Math.min(run.warmup, data.queryRows); q += run.clients.length) await one(client, q);
  }));
  const found: number[][] = new Array(data.queryRows);
  let next = 0;
  let latencyMs = 0;
  run.onStart?.();
  const started = performance.now();
  await Promise.all(run.clients.map(async (client) => {
    for (let q = next++; q < data.queryRows; q = next++) {
      const t = performance.now();
      const res = await one(client, q);
      latencyMs += performance.now() - t;
      found[q] = (res.rows as unknown[][]).map((r) => Number(r[0]));
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  return {
    target: run.target, connections: run.clients.length, ef: run.ef,
    qps: data.queryRows / seconds, meanMs: latencyMs / data.queryRows, recall: recall(data.truth, found, run.k),
  };
}

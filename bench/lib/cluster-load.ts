// Collections for the cluster benchmark: create one through a proxy, COPY rows into it (binary, the
// encoder of `vectorgate load`; ids with a prefix so that several clients never overwrite each other),
// and wait until every placed replica on the workers has applied the whole log and serves.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { binaryHeader, binaryRow, binaryTrailer } from '../../src/cli/load-encode.ts';
import { parseJson } from './cluster-json.ts';
import type { Base } from './cluster-env.ts';
import { waitFor } from './cluster-env.ts';
import type { Dataset } from './search-data.ts';

export interface CollectionShape { shards: number; replicas: number; m: number; efConstruction: number }

export async function createCollection(client: pg.Client, name: string, data: Dataset, shape: CollectionShape): Promise<void> {
  await client.query(`SELECT vector_create_collection($1, $2, metric => $3, shards => $4, replicas => $5, m => $6, ef_construction => $7)`,
    [name, data.dims, data.metric, shape.shards, shape.replicas, shape.m, shape.efConstruction]);
}

/** The create call of the embedded default (no replicas argument: one copy in this process). */
export async function createEmbedded(client: pg.Client, name: string, data: Dataset, shape: CollectionShape): Promise<void> {
  await client.query(`SELECT vector_create_collection($1, $2, metric => $3, shards => $4, m => $5, ef_construction => $6)`,
    [name, data.dims, data.metric, shape.shards, shape.m, shape.efConstruction]);
}

/** Binary COPY of rows [0, rows) of the base as ids `<idPrefix><i>` (`<i>` alone when the prefix is empty); bytes of vector data sent. */
export async function copyRows(client: pg.Client, collection: string, data: Dataset, rows: number, idPrefix: string): Promise<number> {
  const perChunk = 1000;
  function* chunks(): Generator<Buffer> {
    yield binaryHeader();
    for (let first = 0; first < rows; first += perChunk) {
      const out: Buffer[] = [];
      for (let i = first; i < Math.min(first + perChunk, rows); i++) out.push(binaryRow(`${idPrefix}${i}`, data.base, undefined, i * data.dims, data.dims));
      yield Buffer.concat(out);
    }
    yield binaryTrailer();
  }
  await pipeline(Readable.from(chunks()), client.query(copyFrom(`COPY ${collection} (id, vector) FROM STDIN (FORMAT binary)`)));
  return rows * data.dims * 4;
}

interface ReplicaReport { shard: string; worker: string; applied: number; serving: boolean }

/** Every replica report under the prefix (`replicas/<dir>/<shard>/<worker>`). */
export async function replicaReports(base: Base, prefix: string): Promise<ReplicaReport[]> {
  const kvs = await base.etcdConn.client.getAll().prefix(`${prefix}replicas/`).buffers();
  return Object.entries(kvs).flatMap(([key, value]) => {
    const rest = key.slice(`${prefix}replicas/`.length);
    const at = rest.lastIndexOf('/');
    const v = parseJson(value);
    if (v === null || at <= 0) return [];
    return [{ shard: rest.slice(0, at), worker: rest.slice(at + 1), applied: Number(v.applied), serving: v.serving === true }];
  });
}

/** The last seq written to a shard's log (`log/<dir>/<shard>/next` − 1). */
export async function lastSeq(base: Base, prefix: string, shard: string): Promise<number> {
  const next = await base.etcdConn.client.get(`${prefix}log/${shard}/next`).string();
  return next === null ? 0 : Number(next) - 1;
}

/** Waits until `count` replicas report serving with the whole of their shard's log applied. */
export async function waitCaughtUp(base: Base, prefix: string, count: number, timeoutMs = 600_000): Promise<ReplicaReport[]> {
  return waitFor(`${count} replicas to serve with every write applied`, async () => {
    const reports = await replicaReports(base, prefix);
    if (reports.length < count) return undefined;
    for (const r of reports) if (!r.serving || r.applied < await lastSeq(base, prefix, r.shard)) return undefined;
    return reports;
  }, timeoutMs);
}

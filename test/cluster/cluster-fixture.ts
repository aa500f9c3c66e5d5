// What the worker and controller tests share: settings with short leases and intervals, a collection
// created in the etcd catalog, writes appended to its shard logs as the proxy appends them (one
// guarded transaction, record-codec bodies), and reads of placement and of a replica over gRPC.
import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { placementKey, parsePlacement } from '../../src/cluster/cluster-keys.ts';
import type { PlacedReplica } from '../../src/cluster/placement-plan.ts';
import type { WorkerClient } from '../../src/cluster/worker-client.ts';
import { makeConfig, type Config } from '../../src/config.ts';
import type { Logger } from '../../src/log.ts';
import type { CollectionEntry, CollectionSpec } from '../../src/storage/catalog-store.ts';
import { createEtcdClient, type EtcdConnection } from '../../src/storage/etcd-client.ts';
import { EtcdCatalogStore } from '../../src/storage/etcd-catalog.ts';
import { EtcdLogWriter } from '../../src/storage/etcd-log.ts';
import { encodeBody, type Op } from '../../src/storage/record-codec.ts';

let prefixes = 0;

/** Settings for one test: its own key prefix, leases and intervals short enough for a test. */
export function clusterConfig(endpoints: string, overrides: Partial<Config> = {}): Config {
  return makeConfig({
    etcdEndpoints: endpoints,
    etcdPrefix: `/vgtest-${process.pid}-${prefixes++}/`,
    listenHost: '127.0.0.1',
    listenPort: 0,
    logLevel: 'warn',
    etcdTailCheckMs: 200,
    etcdWatchRetryMs: 100,
    workerLeaseTtlSeconds: 2,
    workerReportIntervalMs: 200,
    workerEtcdRetryMs: 100,
    workerEtcdRetryMaxMs: 400,
    workerOpenRetryMs: 200,
    placementIntervalMs: 200,
    placementGraceMs: 500,
    controllerLeaseTtlSeconds: 2,
    shutdownGraceMs: 500,
    ...overrides,
  });
}

/** The settings as VECTORGATE_* variables, for worker processes. */
export function clusterEnv(config: Config, keys: (keyof Config)[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of keys) env[`VECTORGATE_${key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()}`] = String(config[key]);
  return env;
}

export function connect(config: Config): EtcdConnection {
  return createEtcdClient({ endpoints: config.etcdEndpoints.split(','), maxReceiveBytes: config.etcdMaxReceiveBytes, callTimeoutMs: config.etcdCallTimeoutMs });
}

/** A logger whose lines a test can read. */
export function capturingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>); done(); } });
  return { log: pino({ level: 'info' }, stream), lines };
}

export async function createCollection(conn: EtcdConnection, config: Config, name: string, shards: number, replicas: number, spec: Partial<CollectionSpec> = {}): Promise<CollectionEntry> {
  const catalog = await EtcdCatalogStore.open({ client: conn.client, endpoints: config.etcdEndpoints.split(','), config });
  try {
    const entry = catalog.prepare({ name, database: 'app', owner: 'alice', dims: 8, metric: 'l2', shards, replicas, quantization: 'none', m: 16, efConstruction: 64, engine: 'usearch', ...spec });
    return await catalog.commit(entry);
  } finally {
    await catalog.close();
  }
}

/** Seeded rows `<name>-<i>`: a vector of dims and a JSON payload. */
export function rows(random: () => number, name: string, count: number, dims: number): Op[] {
  return Array.from({ length: count }, (_, i) => ({
    op: 'upsert' as const, id: `${name}-${i}`, vector: Float32Array.from({ length: dims }, () => random() * 2 - 1), payload: JSON.stringify({ i }),
  }));
}

/** Appends ops to shard `shard` of the collection as the proxy does; resolves with the record's seq. */
export async function append(writer: EtcdLogWriter, entry: CollectionEntry, shard: number, ops: Op[]): Promise<number> {
  const [seq] = await writer.appendAtomic([{ log: `${entry.dir}/${shard}`, bodies: [encodeBody(entry.dims, ops)] }]);
  return seq!;
}

export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function placementOf(conn: EtcdConnection, config: Config, shard: string): Promise<PlacedReplica[]> {
  const value = await conn.client.get(placementKey(config.etcdPrefix, shard)).buffer();
  return value === null ? [] : parsePlacement(value)?.replicas ?? [];
}

/** The placement once exactly `count` replicas serve and none joins or leaves. */
export function settledPlacement(conn: EtcdConnection, config: Config, shard: string, count: number, accept: (replicas: PlacedReplica[]) => boolean = () => true): Promise<PlacedReplica[]> {
  return until(`${count} serving replicas of ${shard}`, async () => {
    const replicas = await placementOf(conn, config, shard);
    return replicas.length === count && replicas.every((r) => r.state === 'serving') && accept(replicas) ? replicas : undefined;
  });
}

/** Waits until the replica behind client has applied seq. */
export async function applied(client: WorkerClient, shard: string, seq: number): Promise<void> {
  await until(`${client.address} to apply ${shard} up to ${seq}`, async () => {
    try {
      return (await client.call({ type: 'stats', shard })).lastApplied >= seq ? true : undefined;
    } catch {
      return undefined;
    }
  });
}

/** What a replica answers for a fixed set of queries and gets: equal for replicas of equal state. */
export async function answers(client: WorkerClient, shard: string, queries: Float32Array[], ids: string[]): Promise<unknown> {
  const searches = [];
  for (const query of queries) searches.push(await client.call({ type: 'search', shard, query, k: 5, options: { ef: 64 } }));
  const gets = [];
  for (const id of ids) gets.push(await client.call({ type: 'get', shard, id }));
  const { count, lastApplied } = await client.call({ type: 'stats', shard });
  assert.ok(count > 0, `replica of ${shard} on ${client.address} holds rows`);
  return { searches, gets, count, lastApplied };
}

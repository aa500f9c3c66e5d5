// The contract every ShardTransport keeps (src/router/shard-transport.ts), whatever hosts the
// replicas: the proxy's own thread or worker_threads (test/router/shard-transport.contract.test.ts) or worker processes over
// gRPC (test/cluster/grpc-transport.contract.test.ts); each runner supplies only its factory. Each
// answer is compared with what a ShardReplica opened here, over the same ops, answers. How a shard
// comes to exist and how rows reach it is the deployment's (threads: transport.open and write
// requests; cluster: a catalog entry the controller places, and appends to the etcd log), so the
// factory does both; cells that need what only some transports offer declare it (capabilities).
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeConfig, type Config } from '../../src/config.ts';
import type { StoredRow } from '../../src/engine/shard.ts';
import type { IndexSpec } from '../../src/engine/vector-index.ts';
import { VectorgateError } from '../../src/errors.ts';
import { openLocalLog } from '../../src/router/local-log.ts';
import { ShardReplica } from '../../src/router/shard-replica.ts';
import type { HealthEvent, ShardTransport } from '../../src/router/shard-transport.ts';
import type { UpsertRows } from '../../src/router/worker-protocol.ts';
import type { Op } from '../../src/storage/record-codec.ts';
import { randomVectors, rng } from '../engine/helpers/data.ts';

export interface TransportUnderTest {
  transport: ShardTransport;
  /** Makes a shard named after `name` exist (its files below dir where the factory keeps them); resolves with its key once the transport reaches it. */
  createShard(name: string, dir: string, spec: IndexSpec): Promise<string>;
  /** Writes the rows (then deletes the ids) as one write, as the deployment writes; resolves with its seq once reads through the transport see it. */
  write(shard: string, upsert: UpsertRows, deletes?: string[]): Promise<number>;
  /** Kills what hosts shard, for real (a thread's terminate, a worker process's SIGKILL). */
  killHostOf(shard: string): Promise<void>;
  /** Stops whatever the factory started besides the transport (after transport.close()). */
  stop(): Promise<void>;
}

/** What a transport offers besides reads; a cell that needs more than it offers is not defined for it. */
export interface TransportCapabilities {
  /** write, prepare, decide and retained requests go through the transport (threads; the cluster writes to etcd). */
  writeRequests: boolean;
  /** open opens the shard on a host and closeShard closes it (threads; cluster workers open what placement gives them). */
  opensShards: boolean;
  /** Each host bounds its queue (workerMaxInflight, workerMaxQueued) and refuses past it with 53400. */
  queueLimit: boolean;
  /** A snapshot request makes the replicas snapshot (threads; cluster workers snapshot on their own cadence). */
  snapshotRequests: boolean;
  /** The shard's log is a local WAL, so stats.logBytes equals the reference's. */
  localLog: boolean;
  /** What hosts the replicas can die on its own (a thread, a worker process), not with the proxy (inline). */
  hostsDie: boolean;
  /** The SQLSTATE of a request for a shard that was never created. */
  unknownShardCode: string;
}

export interface TransportFactory {
  name: string;
  capabilities: TransportCapabilities;
  /** A transport whose hosts run with these settings (queue limits among them). */
  start(config: Config): Promise<TransportUnderTest>;
}

const DIMS = 8;
// Searches here walk with ef above the shard's row count, so they visit every row: the answer is
// then the exact top-k whatever graph the host built (a multi-threaded add or a different batching
// of the same rows builds a different HNSW graph, and a narrow walk may miss a different row).
const EXHAUSTIVE = { ef: 128 };
const spec: IndexSpec = { engine: 'usearch', dims: DIMS, metric: 'l2', quantization: 'none', m: 16, efConstruction: 64 };

function rows(random: () => number, from: number, count: number): UpsertRows {
  return {
    ids: Array.from({ length: count }, (_, i) => `id-${from + i}`),
    vectors: randomVectors(random, count, DIMS),
    payloads: Array.from({ length: count }, (_, i) => JSON.stringify({ n: from + i })),
  };
}

/** The same rows as replica ops (vectors copied: a transport may take the buffer over). */
function opsOf(upsert: UpsertRows): Op[] {
  return upsert.ids.map((id, i) => ({ op: 'upsert', id, vector: upsert.vectors.slice(i * DIMS, (i + 1) * DIMS), payload: upsert.payloads[i] ?? null }));
}

function copyRows(upsert: UpsertRows): UpsertRows {
  return { ids: [...upsert.ids], vectors: upsert.vectors.slice(), payloads: [...upsert.payloads] };
}

async function rejectsWithCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<VectorgateError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => { caught = err; return true; });
  assert.ok(caught instanceof VectorgateError, `not a VectorgateError: ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message !== undefined) assert.match(caught.message, message);
  return caught;
}

const HEALTH_WAIT_MS = 60_000;

/** Resolves with the first event for which accept is true; fails naming what after HEALTH_WAIT_MS. */
function nextHealth(transport: ShardTransport, what: string, accept: (e: HealthEvent) => boolean): Promise<HealthEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { unsubscribe(); reject(new Error(`no ${what} event within ${HEALTH_WAIT_MS} ms`)); }, HEALTH_WAIT_MS);
    const unsubscribe = transport.onHealth((event) => {
      if (!accept(event)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(event);
    });
  });
}

export function shardTransportContract(factory: TransportFactory): void {
  describe(`ShardTransport contract (${factory.name})`, () => {
    const root = mkdtempSync(join(tmpdir(), 'vg-transport-'));
    const config = makeConfig({ logLevel: 'silent', shardWorkers: 2 });
    let under: TransportUnderTest;
    let transport: ShardTransport;
    let n = 0;
    before(async () => { under = await factory.start(config); transport = under.transport; });
    after(async () => {
      await transport.close();
      await under.stop();
      rmSync(root, { recursive: true, force: true });
    });

    const can = factory.capabilities;
    /** A shard made by the factory and its reference replica over the same ops. */
    async function pair(): Promise<{ key: string; reference: ShardReplica }> {
      const i = n++;
      const key = await under.createShard(`c${i}`, join(root, `t${i}`), spec);
      const refDir = join(root, `ref${i}`);
      return { key, reference: await ShardReplica.open(refDir, spec, config, await openLocalLog(refDir, config)) };
    }

    test('every request type answers what the replica itself answers', async () => {
      const random = rng(7);
      const { key, reference } = await pair();
      try {
        const first = rows(random, 0, 40);
        assert.equal(await under.write(key, copyRows(first)), await reference.write(opsOf(first)));
        const second = rows(random, 40, 10);
        if (can.writeRequests) {
          assert.equal(await transport.call({ type: 'prepare', shard: key, txid: 5, upsert: copyRows(second), delete: ['id-3'] }),
            await reference.prepare(5, [...opsOf(second), { op: 'delete', id: 'id-3' }]));
          assert.equal(await transport.call({ type: 'retained', shard: key }), reference.oldestRetainedTxid());
          assert.equal(await transport.call({ type: 'decide', shard: key, txid: 5, commit: true }), await reference.decide(5, true));
          assert.equal(await transport.call({ type: 'decide', shard: key, txid: 99, commit: true }), null, 'a txid never prepared has nothing to decide');
        } else {
          assert.equal(await under.write(key, copyRows(second), ['id-3']), await reference.write([...opsOf(second), { op: 'delete', id: 'id-3' }]));
        }
        for (let q = 0; q < 5; q++) {
          const query = randomVectors(random, 1, DIMS);
          const hits = await transport.call({ type: 'search', shard: key, query: query.slice(), k: 10, options: EXHAUSTIVE });
          assert.deepEqual(hits, reference.search(query, 10, EXHAUSTIVE));
          const explained = await transport.call({ type: 'explain', shard: key, query: query.slice(), k: 10, options: EXHAUSTIVE });
          const expected = reference.explain(query, 10, EXHAUSTIVE);
          assert.deepEqual(explained.hits, expected.hits);
          assert.deepEqual({ ...explained.trace }, { ...expected.trace });
          assert.equal(explained.lastApplied, expected.lastApplied);
        }
        for (const id of ['id-0', 'id-3', 'id-45', 'missing']) {
          assert.deepEqual(await transport.call({ type: 'get', shard: key, id }), reference.get(id));
        }
        const { logBytes, snapshotSeq, memoryBytes, ...counts } = await transport.call({ type: 'stats', shard: key });
        const { logBytes: refLog, snapshotSeq: refSnap, memoryBytes: refMem, ...refCounts } = reference.stats();
        assert.deepEqual(counts, refCounts);
        assert.equal(snapshotSeq, refSnap);
        if (can.localLog) assert.equal(logBytes, refLog);
        assert.ok(memoryBytes > 0 && refMem > 0);
        if (can.snapshotRequests) {
          assert.equal(await transport.call({ type: 'snapshot', shard: key }), null);
          await reference.snapshot();
          assert.equal((await transport.call({ type: 'stats', shard: key })).snapshotSeq, reference.stats().snapshotSeq);
        }
      } finally {
        await reference.close();
        await transport.closeShard(key);
      }
    });

    test("a replica's error arrives as a VectorgateError with its SQLSTATE; the shard goes on", async () => {
      const { key, reference } = await pair();
      try {
        if (can.writeRequests) {
          const bad: UpsertRows = { ids: ['x'], vectors: new Float32Array(DIMS).fill(1), payloads: ['{not json'] };
          let expected: unknown;
          await reference.write(opsOf(bad)).catch((err: unknown) => { expected = err; });
          assert.ok(expected instanceof VectorgateError);
          const err = await rejectsWithCode(transport.call({ type: 'write', shard: key, upsert: copyRows(bad) }), expected.code);
          assert.equal(err.message, expected.message);
        }
        await rejectsWithCode(transport.call({ type: 'get', shard: 'never-opened/0', id: 'x' }), can.unknownShardCode, /never-opened\/0/);
        assert.equal(await under.write(key, rows(rng(1), 0, 1)), 1);
      } finally {
        await reference.close();
        await transport.closeShard(key);
      }
    });

    if (can.opensShards) test('closeShard: later calls fail; reopening the directory finds every acknowledged row', async () => {
      const i = n++;
      const dir = join(root, `t${i}`);
      const key = await under.createShard(`c${i}`, dir, spec);
      await under.write(key, rows(rng(3), 0, 20));
      await transport.closeShard(key);
      await rejectsWithCode(transport.call({ type: 'get', shard: key, id: 'id-0' }), 'XX000', /is not open/);
      await transport.open(key, dir, spec, []);
      try {
        assert.equal((await transport.call({ type: 'stats', shard: key })).count, 20);
      } finally {
        await transport.closeShard(key);
      }
    });

    if (can.hostsDie) test('a host that dies: health down then up, and its shards answer again with every acknowledged row', async () => {
      const { key, reference } = await pair();
      try {
        const random = rng(11);
        for (let b = 0; b < 4; b++) {
          const batch = rows(random, b * 25, 25);
          await reference.write(opsOf(batch));
          await under.write(key, batch);
        }
        const down = nextHealth(transport, `down of ${key}`, (e) => e.kind === 'down' && e.shards.includes(key));
        const up = nextHealth(transport, `up of ${key}`, (e) => e.kind === 'up' && e.shards.includes(key));
        up.catch(() => undefined);
        await under.killHostOf(key);
        assert.ok((await down).reason.length > 0, 'a down event says why');
        await up;
        assert.equal((await transport.call({ type: 'stats', shard: key })).count, 100);
        for (let i = 0; i < 100; i++) {
          const row = await transport.call({ type: 'get', shard: key, id: `id-${i}` }) as StoredRow;
          assert.deepEqual(row, reference.get(`id-${i}`));
        }
        const query = randomVectors(random, 1, DIMS);
        assert.deepEqual(await transport.call({ type: 'search', shard: key, query: query.slice(), k: 10, options: EXHAUSTIVE }), reference.search(query, 10, EXHAUSTIVE));
      } finally {
        await reference.close();
        await transport.closeShard(key);
      }
    });

    if (can.queueLimit) test('past its queue limit a host refuses with 53400; what it admitted answers', async () => {
      const limited = await factory.start(makeConfig({ logLevel: 'silent', shardWorkers: 1, workerMaxInflight: 1, workerMaxQueued: 2 }));
      try {
        const i = n++;
        const key = await limited.createShard(`c${i}`, join(root, `limited-${i}`), spec);
        await limited.write(key, rows(rng(5), 0, 10));
        const query = randomVectors(rng(6), 1, DIMS);
        const settled = await Promise.allSettled(Array.from({ length: 20 }, () =>
          limited.transport.call({ type: 'search', shard: key, query: query.slice(), k: 3, options: {} })));
        const refused = settled.filter((r) => r.status === 'rejected');
        assert.ok(refused.length > 0, 'some searches were refused');
        for (const r of refused) {
          const err = (r as PromiseRejectedResult).reason;
          assert.ok(err instanceof VectorgateError);
          assert.equal(err.code, '53400');
          assert.match(err.message, /queue is full/);
        }
        assert.ok(settled.some((r) => r.status === 'fulfilled' && r.value.length === 3), 'the admitted searches answered');
      } finally {
        await limited.transport.close();
        await limited.stop();
      }
    });

    test('close rejects later calls and opens', async () => {
      const closing = await factory.start(makeConfig({ logLevel: 'silent', shardWorkers: 1 }));
      const i = n++;
      const key = await closing.createShard(`c${i}`, join(root, `closing-${i}`), spec);
      await closing.transport.close();
      await closing.stop();
      await rejectsWithCode(closing.transport.call({ type: 'stats', shard: key }), '57P01', /closed|shutting down/);
      if (can.opensShards) await rejectsWithCode(closing.transport.open(`c${n++}/0`, join(root, 'never'), spec, []), '57P01', /closed/);
    });
  });
}

// The worker's gRPC server and the proxy's client against it, in this process: a real ShardReplica
// over a local Wal answers through vectorgate.Worker/Call exactly as it answers directly; handler
// failures keep their SQLSTATE; snapshots transfer into a directory a replica opens from; a port
// that is taken, messages over the limit, deadlines and the per-connection call limit.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WorkerClient, WorkerClients } from '../../src/cluster/worker-client.ts';
import { WorkerServer } from '../../src/cluster/worker-server.ts';
import { makeConfig, type Config } from '../../src/config.ts';
import type { IndexSpec } from '../../src/engine/vector-index.ts';
import { SqlState, VectorgateError } from '../../src/errors.ts';
import { ShardReplica } from '../../src/router/shard-replica.ts';
import type { Request } from '../../src/router/worker-protocol.ts';
import { listSnapshots, verifySnapshot } from '../../src/storage/snapshot.ts';
import { randomVectors, rng } from '../engine/helpers/data.ts';
import { ReplicaHandler } from './replica-handler.ts';
import { openLocalLog } from '../../src/router/local-log.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-grpc-server-'));
after(() => rmSync(root, { recursive: true, force: true }));
const spec: IndexSpec = { engine: 'usearch', dims: 16, metric: 'cosine', quantization: 'none', m: 16, efConstruction: 64 };

function isError(code: string, pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof VectorgateError, `not a VectorgateError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

async function serve(config: Config, handler: (req: Request) => Promise<unknown>, snapshotSource?: ReplicaHandler['snapshotSource']) {
  const server = await WorkerServer.listen({ host: '127.0.0.1', port: 0, config, handler, snapshotSource });
  const client = new WorkerClient(server.address, config);
  return { server, client, async stop() { client.close(); await server.close(); } };
}

describe('worker server with a real shard replica', () => {
  const config = makeConfig({ grpcSnapshotChunkBytes: 4096 });
  const replicas = new ReplicaHandler(config);
  let served: Awaited<ReturnType<typeof serve>>;
  const random = rng(77);
  const vectors = randomVectors(random, 200, 16);
  const ids = Array.from({ length: 200 }, (_, i) => `v${i}`);
  const dir = join(root, 'replica');

  before(async () => {
    served = await serve(config, replicas.handle, replicas.snapshotSource);
    await served.client.call({ type: 'open', shard: 's0', dir, spec, committed: [] });
  });
  after(async () => { await served.stop(); await replicas.close(); });

  test('writes, searches, gets, explains and stats answer as the replica does directly', async () => {
    const seq = await served.client.call({ type: 'write', shard: 's0', upsert: { ids, vectors, payloads: ids.map((id, i) => JSON.stringify({ id, i })) } });
    assert.equal(seq, 1);
    assert.equal(await served.client.call({ type: 'write', shard: 's0', delete: ['v199'] }), 2);
    const replica = replicas.replica('s0');
    for (let q = 0; q < 10; q++) {
      const query = randomVectors(random, 1, 16);
      const hits = await served.client.call({ type: 'search', shard: 's0', query, k: 10, options: { ef: 64 }, read: { minSeq: 2, waitMs: 1000 } });
      assert.deepEqual(hits, replica.search(query, 10, { ef: 64 }));
      const explained = await served.client.call({ type: 'explain', shard: 's0', query, k: 5, options: { filter: '{"i":{"$lt":50}}' } });
      assert.deepEqual(explained.hits, replica.search(query, 5, { filter: '{"i":{"$lt":50}}' }));
      assert.equal(explained.lastApplied, 2);
    }
    const row = await served.client.call({ type: 'get', shard: 's0', id: 'v7' });
    assert.deepEqual(row, { id: 'v7', vector: replica.get('v7')!.vector, payload: '{"id":"v7","i":7}' });
    assert.equal(await served.client.call({ type: 'get', shard: 's0', id: 'v199' }), null);
    assert.deepEqual(await served.client.call({ type: 'stats', shard: 's0' }), replica.stats());
    assert.equal((await served.client.ping()).pid, process.pid);
  });

  test('a handler failure comes back as the VectorgateError with its SQLSTATE', async () => {
    await assert.rejects(served.client.call({ type: 'write', shard: 's0', upsert: { ids: ['bad'], vectors: new Float32Array(3), payloads: [null] } }),
      isError(SqlState.DataException, /^expected 16 dimensions, not 3$/));
    await assert.rejects(served.client.call({ type: 'stats', shard: 'missing' }), isError(SqlState.InternalError, /internal error in shard worker: shard missing is not open/));
  });

  test('a snapshot transfers in chunks into a directory a replica opens from, answering the same', async () => {
    await served.client.call({ type: 'snapshot', shard: 's0' });
    const into = join(root, 'copy');
    const ref = await served.client.snapshot('s0', into);
    assert.equal(ref.seq, 2);
    assert.deepEqual(listSnapshots(into), [ref]);
    await verifySnapshot(ref);
    assert.deepEqual(readdirSync(join(into, 'snapshots')), ['00000000000000000002']);
    const copy = await ShardReplica.open(into, spec, config, await openLocalLog(into, config));
    try {
      const original = replicas.replica('s0');
      for (let q = 0; q < 10; q++) {
        const query = randomVectors(random, 1, 16);
        assert.deepEqual(copy.search(query, 10, {}), original.search(query, 10, {}));
      }
      assert.equal(copy.stats().count, 199);
    } finally {
      await copy.close();
    }
  });

  test('a snapshot of a shard with none, or one over the size limit, fails and leaves no temp directory', async () => {
    const none = await serve(config, replicas.handle, async () => null);
    const small = makeConfig({ grpcSnapshotChunkBytes: 4096, grpcSnapshotMaxBytes: 10_000 });
    const limited = new WorkerClient(served.server.address, small);
    try {
      const into = join(root, 'none');
      await assert.rejects(none.client.snapshot('s0', into), isError(SqlState.UndefinedObject, /worker holds no snapshot of shard s0/));
      assert.deepEqual(readdirSync(join(into, 'snapshots')), []);
      const over = join(root, 'over');
      await assert.rejects(limited.snapshot('s0', over), isError(SqlState.ProgramLimitExceeded, /more than 10000 bytes \(grpcSnapshotMaxBytes\)/));
      assert.deepEqual(readdirSync(join(over, 'snapshots')), []);
    } finally {
      limited.close();
      await none.stop();
    }
  });
});

describe('worker server limits and failures', () => {
  test('a port already taken fails with an error naming host:port', async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      await assert.rejects(WorkerServer.listen({ host: '127.0.0.1', port, config: makeConfig(), handler: async () => null }),
        isError(SqlState.IoError, new RegExp(`worker cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use`)));
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  test('errors thrown by the handler keep detail and hint', async () => {
    const served = await serve(makeConfig(), async () => {
      throw new VectorgateError(SqlState.ConfigurationLimitExceeded, 'replica is busy', { detail: 'queue full', hint: 'retry later' });
    });
    try {
      await assert.rejects(served.client.call({ type: 'stats', shard: 's' }), (err: unknown) =>
        err instanceof VectorgateError && err.code === '53400' && err.message === 'replica is busy' && err.detail === 'queue full' && err.hint === 'retry later');
    } finally {
      await served.stop();
    }
  });

  test('a reply or request over grpcMaxMessageBytes fails with 54000 and the connection stays usable', async () => {
    const config = makeConfig({ grpcMaxMessageBytes: 64 * 1024, grpcSnapshotChunkBytes: 1024 });
    const hits = Array.from({ length: 5000 }, (_, i) => ({ id: `id-${i}`, distance: i, payload: null }));
    const served = await serve(config, async (req) => (req.type === 'search' && req.k > 100 ? hits : []));
    try {
      await assert.rejects(served.client.call({ type: 'search', shard: 's', query: new Float32Array(4), k: 5000, options: {} }), isError('54000', /exceeds the limit of 65536 bytes/));
      await assert.rejects(served.client.call({ type: 'search', shard: 's', query: new Float32Array(20_000), k: 1, options: {} }), isError('54000', /exceeds the limit of 65536 bytes/));
      assert.deepEqual(await served.client.call({ type: 'search', shard: 's', query: new Float32Array(4), k: 1, options: {} }), []);
    } finally {
      await served.stop();
    }
  });

  test('gzip of large replies round-trips', async () => {
    const config = makeConfig({ grpcGzipMinBytes: 1024 });
    const hits = Array.from({ length: 1000 }, (_, i) => ({ id: `id-${i}`, distance: i / 7, payload: `{"n":${i}}` }));
    const served = await serve(config, async () => hits);
    try {
      assert.deepEqual(await served.client.call({ type: 'search', shard: 's', query: new Float32Array(4), k: 1000, options: {} }), hits);
    } finally {
      await served.stop();
    }
  });

  test('a call past its deadline fails with 57014', async () => {
    const releases: (() => void)[] = [];
    const served = await serve(makeConfig(), () => new Promise((resolve) => releases.push(() => resolve(null))));
    try {
      await assert.rejects(served.client.call({ type: 'get', shard: 's', id: 'x' }, { timeoutMs: 200 }), isError('57014', /get on shard s on worker .* did not finish within 200 ms/));
      await assert.rejects(served.client.call({ type: 'get', shard: 's', id: 'x' }, { timeoutMs: 0 }), isError('57014', /no time left/));
    } finally {
      releases.splice(0).forEach((release) => release());
      await served.stop();
    }
  });

  test('a snapshot transfer past its deadline fails with 57014 and leaves no temp directory', async () => {
    const releases: (() => void)[] = [];
    const served = await serve(makeConfig(), async () => null, () => new Promise((resolve) => releases.push(() => resolve(null))));
    const into = join(root, 'late');
    try {
      await assert.rejects(served.client.snapshot('s0', into, { timeoutMs: 200 }), isError('57014', /snapshot of shard s0 on worker .* did not finish within 200 ms/));
      assert.deepEqual(readdirSync(join(into, 'snapshots')), []);
    } finally {
      releases.splice(0).forEach((release) => release());
      await served.stop();
    }
  });

  test('one connection runs at most grpcMaxConcurrentCalls calls at once; more wait for a stream', async () => {
    const config = makeConfig({ grpcMaxConcurrentCalls: 2 });
    const running: string[] = [];
    const releases: (() => void)[] = [];
    const watchers: (() => void)[] = [];
    const until = (count: number) => new Promise<void>((resolve) => {
      const check = () => { if (running.length >= count) resolve(); else watchers.push(check); };
      check();
    });
    const served = await serve(config, async (req) => {
      if (req.type !== 'get') return null;
      running.push(req.id);
      watchers.splice(0).forEach((check) => check());
      await new Promise<void>((resolve) => releases.push(resolve));
      return null;
    });
    // grpc-js shares one connection among clients of the same address and options: other options, another connection.
    const other = new WorkerClient(served.server.address, makeConfig({ ...config, grpcKeepaliveTimeMs: config.grpcKeepaliveTimeMs + 1 }));
    try {
      const first = [1, 2, 3].map(() => served.client.call({ type: 'get', shard: 's', id: 'a' }));
      await until(2);
      // Another connection is not held back by the first one's limit. Its call is sent after the
      // first connection's third one, so that one is still waiting for a free stream.
      const second = other.call({ type: 'get', shard: 's', id: 'b' });
      await until(3);
      assert.deepEqual([...running].sort(), ['a', 'a', 'b']);
      releases.splice(0).forEach((release) => release());
      await until(4);
      assert.deepEqual([...running].sort(), ['a', 'a', 'a', 'b']);
      releases.splice(0).forEach((release) => release());
      assert.deepEqual(await Promise.all([...first, second]), [null, null, null, null]);
    } finally {
      releases.splice(0).forEach((release) => release());
      other.close();
      await served.stop();
    }
  });

  test('WorkerClients keeps one client per address; a dropped one is closed and replaced', async () => {
    const served = await serve(makeConfig(), async () => 7);
    const clients = new WorkerClients(makeConfig());
    try {
      const first = clients.get(served.server.address);
      assert.equal(clients.get(served.server.address), first);
      assert.equal(await first.call({ type: 'write', shard: 's' }), 7);
      clients.drop(served.server.address);
      await assert.rejects(first.call({ type: 'write', shard: 's' }), isError('08006', /is closed/));
      const second = clients.get(served.server.address);
      assert.notEqual(second, first);
      assert.equal(await second.call({ type: 'write', shard: 's' }), 7);
    } finally {
      clients.close();
      await served.stop();
    }
  });

  test('a closed client refuses calls with 08006', async () => {
    const served = await serve(makeConfig(), async () => null);
    served.client.close();
    try {
      await assert.rejects(served.client.call({ type: 'stats', shard: 's' }), isError('08006', /the client of worker .* is closed/));
    } finally {
      await served.stop();
    }
  });
});

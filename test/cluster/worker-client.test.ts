// The proxy's gRPC client against a real worker in a child process (test/cluster/worker-process.ts):
// a worker killed with SIGKILL mid-call fails that call at once with 08006 naming its address (not at
// the deadline), calls while it is down fail the same way, and after it restarts on the same port
// the same client reaches it again and its replica answers as before (recovered from its WAL).
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { WorkerClient } from '../../src/cluster/worker-client.ts';
import { makeConfig } from '../../src/config.ts';
import type { IndexSpec } from '../../src/engine/vector-index.ts';
import { SqlState, VectorgateError } from '../../src/errors.ts';
import { randomVectors, rng } from '../engine/helpers/data.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-grpc-client-'));
after(() => rmSync(root, { recursive: true, force: true }));
const repo = join(import.meta.dirname, '../..');
const spec: IndexSpec = { engine: 'usearch', dims: 8, metric: 'l2', quantization: 'none', m: 16, efConstruction: 64 };

/** A down worker is given up on after 500 ms instead of 3 s (reconnect attempts at most 200 ms apart). */
const quickReconnect = { grpcReconnectMaxBackoffMs: 200, grpcConnectTimeoutMs: 500 };

interface ChildWorker { child: ChildProcess; port: number; next(line: string): Promise<void>; exited: Promise<unknown> }

/** Starts the worker process and waits until it serves; its stdout lines can be awaited. */
async function startWorker(port: number): Promise<ChildWorker> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/cluster/worker-process.ts', String(port)], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const waiting = new Map<string, () => void>();
  let listening: (port: number) => void = () => {};
  const bound = new Promise<number>((resolve) => { listening = resolve; });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const match = /^listening (\d+)$/.exec(line);
    if (match !== null) listening(Number(match[1]));
    waiting.get(line)?.();
  });
  const failed = exited.then((code) => { throw new Error(`worker process exited with ${String(code)} before listening`); });
  const actual = await Promise.race([bound, failed]);
  failed.catch(() => {});
  return { child, port: actual, exited, next: (line) => new Promise((resolve) => waiting.set(line, resolve)) };
}

async function kill(worker: ChildWorker | null): Promise<void> {
  if (worker === null || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGKILL');
  await worker.exited;
}

function unreachable(address: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof VectorgateError, String(err));
    assert.equal(err.code, SqlState.ConnectionFailure, err.message);
    assert.match(err.message, new RegExp(`^worker ${address.replace(/\./g, '\\.')} is unreachable: `));
    return true;
  };
}

test('a worker killed mid-call fails the call with 08006; after a restart on the same port the same client succeeds', async () => {
  // A long deadline: the killed call must fail because the connection dropped, not because time ran out.
  const config = makeConfig({ ...quickReconnect, grpcCallTimeoutMs: 300_000 });
  let worker: ChildWorker | null = await startWorker(0);
  const address = `127.0.0.1:${worker.port}`;
  const client = new WorkerClient(address, config);
  const dir = join(root, 'shard');
  const random = rng(5);
  const vectors = randomVectors(random, 50, 8);
  const ids = Array.from({ length: 50 }, (_, i) => `r${i}`);
  const queries = Array.from({ length: 5 }, () => randomVectors(random, 1, 8));
  try {
    await client.call({ type: 'open', shard: 's', dir, spec, committed: [] });
    assert.equal(await client.call({ type: 'write', shard: 's', upsert: { ids, vectors, payloads: ids.map(() => null) } }), 1);
    const before = await Promise.all(queries.map((query) => client.call({ type: 'search', shard: 's', query, k: 5, options: {} })));
    const { pid } = await client.ping();
    assert.equal(pid, worker.child.pid);
    assert.equal(client.connected, true);

    const hanging = client.call({ type: 'get', shard: 's', id: 'hang' }).then(() => null, (err: unknown) => err);
    await worker.next('hanging');
    await kill(worker);
    assert.ok(unreachable(address)(await hanging));
    await assert.rejects(client.call({ type: 'stats', shard: 's' }), unreachable(address));
    await assert.rejects(client.ping(), unreachable(address));
    assert.equal(client.connected, false);

    worker = await startWorker(worker.port);
    assert.notEqual((await client.ping()).pid, pid);
    await client.call({ type: 'open', shard: 's', dir, spec, committed: [] });
    const afterRestart = await Promise.all(queries.map((query) => client.call({ type: 'search', shard: 's', query, k: 5, options: {} })));
    assert.deepEqual(afterRestart, before);
    assert.equal((await client.call({ type: 'stats', shard: 's' })).count, 50);
  } finally {
    client.close();
    await kill(worker);
  }
});

test('a worker address nobody listens on fails with 08006 naming it', async () => {
  const worker = await startWorker(0);
  const address = `127.0.0.1:${worker.port}`;
  await kill(worker);
  const client = new WorkerClient(address, makeConfig(quickReconnect));
  try {
    await assert.rejects(client.call({ type: 'stats', shard: 's' }), unreachable(address));
    await assert.rejects(client.snapshot('s', join(root, 'nowhere')), unreachable(address));
  } finally {
    client.close();
  }
});

test('keepalive notices a worker that stops answering (SIGSTOP) mid-call: 08006 long before the deadline', async () => {
  const config = makeConfig({ ...quickReconnect, grpcCallTimeoutMs: 300_000, grpcKeepaliveTimeMs: 300, grpcKeepaliveTimeoutMs: 300 });
  const worker = await startWorker(0);
  const client = new WorkerClient(`127.0.0.1:${worker.port}`, config);
  try {
    await client.ping();
    const hanging = client.call({ type: 'get', shard: 's', id: 'hang' }).then(() => null, (err: unknown) => err);
    await worker.next('hanging');
    worker.child.kill('SIGSTOP');
    const err = await hanging;
    assert.ok(err instanceof VectorgateError, String(err));
    assert.equal(err.code, SqlState.ConnectionFailure, err.message);
    assert.match(err.message, new RegExp(`^worker 127\\.0\\.0\\.1:${worker.port} is unreachable: `));
  } finally {
    client.close();
    worker.child.kill('SIGCONT');
    await kill(worker);
  }
});

// `vectorgate worker` against a real etcd member: a wiped worker rebuilds from a peer snapshot once
// the log was truncated; a lost lease is granted again and everything re-registered; a restart keeps
// the worker's identity; a taken port exits 1 naming it; an unreachable etcd at start is retried with
// logged back-off; SIGTERM revokes the lease and exits 0.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer, connect as connectTcp, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { workerKey, WORKERS } from '../../src/cluster/cluster-keys.ts';
import { advertisedAddress, startWorker } from '../../src/cluster/worker-process.ts';
import { freePort } from '../../src/cli/postgres-server.ts';
import { logKeys, readCounters } from '../../src/storage/etcd-log-read.ts';
import { seeded } from '../helpers/random.ts';
import { runProcess } from '../helpers/run-process.ts';
import { bruteForce, DATA_DIR, readFvecs, recallAt, row } from '../engine/helpers/data.ts';
import { answers, append, applied, capturingLogger, clusterEnv, createCollection, rows, settledPlacement, until } from './cluster-fixture.ts';
import { EtcdShared, inWorld, isError } from './cluster-world.ts';

const BIN = fileURLToPath(new URL('../../bin/vectorgate.js', import.meta.url));
const shared = new EtcdShared('worker');
before(() => shared.start());
after(() => shared.stop());

test('a wiped worker rebuilds its replica from a peer snapshot and the log once the controller truncated the log', () => inWorld(shared, { snapshotMinLogBytes: 1, snapshotCheckIntervalMs: 100 }, async (world) => {
  world.controller('proxy-a');
  const keep = await world.worker();
  const wipedDir = world.dataDir();
  const wiped = await world.worker(wipedDir);
  const entry = await createCollection(world.conn, world.config, 'rebuilt', 1, 2);
  const key = `${entry.dir}/0`;
  const random = seeded(13);
  let seq = 0;
  for (let batch = 0; batch < 4; batch++) seq = await append(world.writer, entry, 0, rows(random, `b${batch}`, 30, 8));
  await settledPlacement(world.conn, world.config, key, 2);
  const logKeysOf = logKeys(world.config.etcdPrefix, key);
  await until('the controller to truncate the log', async () => ((await readCounters(world.conn, logKeysOf, 2000)).first > seq ? true : undefined));
  await wiped.stop();
  rmSync(wipedDir, { recursive: true, force: true });
  seq = await append(world.writer, entry, 0, rows(random, 'after-wipe', 5, 8));
  const { log, lines } = capturingLogger();
  const rebuilt = await world.worker(wipedDir, log);
  assert.notEqual(rebuilt.id, wiped.id, 'a wiped data directory is a new worker');
  await settledPlacement(world.conn, world.config, key, 2, (replicas) => replicas.some((r) => r.worker === rebuilt.id));
  assert.ok(lines.some((l) => l.msg === 'copied a peer snapshot (the log no longer holds what this replica lacks)' && l.peer === keep.address), 'the snapshot came from the peer');
  const clients = [world.clients.get(keep.address), world.clients.get(rebuilt.address)];
  for (const client of clients) await applied(client, key, seq);
  const queries = Array.from({ length: 5 }, () => Float32Array.from({ length: 8 }, () => random() * 2 - 1));
  const [a, b] = await Promise.all(clients.map((c) => answers(c, key, queries, ['b0-0', 'b3-29', 'after-wipe-4'])));
  assert.deepEqual(a, b);
  assert.equal((a as { count: number }).count, 125);
}));

test('recall@10 on glove-100 (a 5,000-vector subset, exact ground truth) is the same on a rebuilt replica as before the wipe', (t) => inWorld(shared, { snapshotMinLogBytes: 1, snapshotCheckIntervalMs: 100 }, async (world) => {
  const base = readFvecs(join(DATA_DIR, 'glove-100/base.fvecs'), 5000);
  const queries = readFvecs(join(DATA_DIR, 'glove-100/query.fvecs'), 50);
  const truth = bruteForce(base, queries, 10, 'cosine');
  world.controller('proxy-a');
  const keep = await world.worker();
  const wipedDir = world.dataDir();
  const wiped = await world.worker(wipedDir);
  const entry = await createCollection(world.conn, world.config, 'glove', 1, 2, { dims: 100, metric: 'cosine', efConstruction: 200 });
  const key = `${entry.dir}/0`;
  let seq = 0;
  for (let from = 0; from < base.count; from += 500) {
    const ops = Array.from({ length: 500 }, (_, i) => ({ op: 'upsert' as const, id: String(from + i), vector: row(base, from + i), payload: null }));
    seq = await append(world.writer, entry, 0, ops);
  }
  await settledPlacement(world.conn, world.config, key, 2);
  const recall = async (address: string) => {
    const client = world.clients.get(address);
    await applied(client, key, seq);
    const found: number[][] = [];
    for (let q = 0; q < queries.count; q++) found.push((await client.call({ type: 'search', shard: key, query: row(queries, q), k: 10, options: { ef: 12 } })).map((h) => Number(h.id)));
    return recallAt(10, truth, found);
  };
  const before = await recall(keep.address);
  assert.ok(before >= 0.8, `recall@10 before: ${before}`);
  await until('the controller to truncate the log', async () => ((await readCounters(world.conn, logKeys(world.config.etcdPrefix, key), 2000)).first > seq ? true : undefined));
  await wiped.stop();
  rmSync(wipedDir, { recursive: true, force: true });
  const rebuilt = await world.worker(wipedDir);
  await settledPlacement(world.conn, world.config, key, 2, (replicas) => replicas.some((r) => r.worker === rebuilt.id));
  const after = await recall(rebuilt.address);
  t.diagnostic(`recall@10 (ef 12, 50 queries) before the wipe ${before}, on the rebuilt replica ${after}`);
  assert.equal(after, before);
}));

test('a lost lease is logged, granted again and everything registered again; a restarted worker keeps its identity and replicas', () => inWorld(shared, {}, async (world) => {
  world.controller('proxy-a');
  const { log, lines } = capturingLogger();
  const dataDir = world.dataDir();
  const worker = await world.worker(dataDir, log);
  const entry = await createCollection(world.conn, world.config, 'leased', 1, 1);
  const key = `${entry.dir}/0`;
  const seq = await append(world.writer, entry, 0, rows(seeded(14), 'r', 20, 8));
  await settledPlacement(world.conn, world.config, key, 1);
  const registration = workerKey(world.config.etcdPrefix, worker.id);
  const reportKey = `${world.config.etcdPrefix}replicas/${key}/${worker.id}`;
  const leaseOf = async (k: string) => (await world.conn.client.get(k).exec()).kvs[0]?.lease;
  const oldLease = await leaseOf(registration);
  assert.ok(oldLease !== undefined && oldLease !== '0');
  await world.conn.client.leaseClient.leaseRevoke({ ID: oldLease });
  assert.equal(await leaseOf(registration), undefined, 'revoking the lease removed the registration');
  await until('a lost lease logged', () => (lines.some((l) => l.msg === 'worker lease lost: its registration and replica reports are gone from etcd until a new lease is granted') ? true : undefined));
  await until('the registration and the report back under a new lease', async () => {
    const [a, b] = [await leaseOf(registration), await leaseOf(reportKey)];
    return a !== undefined && a !== oldLease && b === a ? true : undefined;
  });
  assert.ok(lines.some((l) => l.msg === 'worker lease granted again; registered again'));
  await applied(world.clients.get(worker.address), key, seq);
  await worker.stop();
  const restarted = await world.worker(dataDir);
  assert.equal(restarted.id, worker.id, 'the same identity after a restart');
  await applied(world.clients.get(restarted.address), key, seq);
  assert.equal((await world.clients.get(restarted.address).call({ type: 'stats', shard: key })).count, 20);
}));

test('etcd down for longer than the lease TTL: the worker notices the lost lease, and once etcd is back registers under a new one and its replica follows the log again', () => inWorld(shared, {}, async (world) => {
  world.controller('proxy-a');
  const { log, lines } = capturingLogger();
  const worker = await world.worker(world.dataDir(), log);
  const entry = await createCollection(world.conn, world.config, 'outage', 1, 1);
  const key = `${entry.dir}/0`;
  const random = seeded(16);
  await append(world.writer, entry, 0, rows(random, 'before', 10, 8));
  await settledPlacement(world.conn, world.config, key, 1);
  const registration = workerKey(world.config.etcdPrefix, worker.id);
  const oldLease = (await world.conn.client.get(registration).exec()).kvs[0]?.lease;
  await shared.etcd.kill(0);
  try {
    await until('the lost lease logged', () => (lines.some((l) => l.msg === 'worker lease lost: its registration and replica reports are gone from etcd until a new lease is granted') ? true : undefined));
  } finally {
    shared.etcd.restart(0);
  }
  await shared.etcd.waitHealthy(30_000);
  await until('registered again under a new lease', () => (lines.some((l) => l.msg === 'worker lease granted again; registered again') ? true : undefined));
  const newLease = (await world.conn.client.get(registration).exec()).kvs[0]?.lease;
  assert.ok(newLease !== undefined && newLease !== oldLease, `a new lease (${oldLease} → ${newLease})`);
  const seq = await until('an append once etcd answers', () => append(world.writer, entry, 0, rows(random, 'after', 10, 8)).catch(() => undefined));
  await applied(world.clients.get(worker.address), key, seq);
  assert.equal((await world.clients.get(worker.address).call({ type: 'stats', shard: key })).count, 20);
}));

test('vectorgate worker on a port already taken exits 1 naming host:port', async () => {
  const server = createServer();
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  try {
    const result = await runProcess(process.execPath, [BIN, 'worker', '--etcd', shared.etcd.urls, '--listen', `127.0.0.1:${port}`, '--data-dir', shared.dir('taken')]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`worker cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use`));
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('etcd unreachable at start: the worker logs retries with back-off, then registers once etcd answers', () => inWorld(shared, {}, async (world) => {
  const port = await freePort();
  const { log, lines } = capturingLogger();
  const worker = await startWorker({ ...world.config, etcdEndpoints: `http://127.0.0.1:${port}`, dataDir: world.dataDir() }, log);
  world.later(() => worker.stop());
  const retries = () => lines.filter((l) => l.msg === 'worker cannot reach etcd; retrying');
  await until('two logged retries', () => (retries().length >= 2 ? true : undefined));
  assert.ok((retries()[1]!.retryMs as number) > (retries()[0]!.retryMs as number), 'the wait grows');
  assert.match(String(retries()[0]!.err), /etcd is unreachable/);
  const relay = await forward(port, Number(new URL(shared.etcd.endpoints[0]!).port));
  world.later(() => relay.close());
  await worker.ready;
  assert.ok(await world.conn.client.get(workerKey(world.config.etcdPrefix, worker.id)).exists(), 'registered');
}));

test('SIGTERM: the worker process revokes its lease (its registration goes at once) and exits 0', () => inWorld(shared, {}, async (world) => {
  const dataDir = world.dataDir();
  const port = await freePort();
  const env = { ...process.env, ...clusterEnv(world.config, ['etcdPrefix', 'workerLeaseTtlSeconds']), VECTORGATE_LOG_LEVEL: 'info' };
  const child = spawn(process.execPath, [BIN, 'worker', '--etcd', shared.etcd.urls, '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  world.later(async () => { if (child.exitCode === null) child.kill('SIGKILL'); await exited; });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  await until('the worker to register', () => (output.includes('"worker registered"') ? true : undefined));
  const registered = await world.conn.client.getAll().prefix(`${world.config.etcdPrefix}${WORKERS}`).keys();
  assert.equal(registered.length, 1);
  child.kill('SIGTERM');
  assert.equal(await exited, 0, output);
  assert.equal((await world.conn.client.getAll().prefix(`${world.config.etcdPrefix}${WORKERS}`).keys()).length, 0, 'the lease was revoked');
}));


/** A TCP forwarder from port to targetPort (etcd that "comes up" on the worker's endpoint). */
async function forward(port: number, targetPort: number): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connectTcp(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.once('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

test('the advertised address: the listen address, or this host name when listening on every interface', () => {
  assert.equal(advertisedAddress('127.0.0.1', 7100), '127.0.0.1:7100');
  assert.equal(advertisedAddress('0.0.0.0', 7100), `${hostname()}:7100`);
  assert.equal(advertisedAddress('::', 7100), `${hostname()}:7100`);
  assert.equal(advertisedAddress('::1', 7100), '[::1]:7100');
});

test('a worker takes at most workerMaxInflight + workerMaxQueued requests at once; past that 53400, and it answers again after', () => inWorld(shared, { workerMaxInflight: 1, workerMaxQueued: 1 }, async (world) => {
  world.controller('proxy-limit');
  const worker = await world.worker();
  const entry = await createCollection(world.conn, world.config, 'limited', 1, 1);
  const key = `${entry.dir}/0`;
  const seq = await append(world.writer, entry, 0, rows(seeded(5), 'l', 3, 8));
  await settledPlacement(world.conn, world.config, key, 1);
  const client = world.clients.get(worker.address);
  await applied(client, key, seq);
  // Reads waiting for a seq that is never written hold their place until their wait ends.
  const waiting = [0, 1].map(() => client.call({ type: 'get', shard: key, id: 'l-0', read: { minSeq: seq + 1000, waitMs: 1500 } }).catch((err: unknown) => err));
  await new Promise((r) => setTimeout(r, 200));
  await assert.rejects(client.call({ type: 'get', shard: key, id: 'l-0' }), isError('53400', /has 2 requests in progress \(workerMaxInflight \+ workerMaxQueued\)/));
  for (const err of await Promise.all(waiting)) assert.equal((err as { code?: string }).code, '57014');
  assert.equal((await client.call({ type: 'get', shard: key, id: 'l-0' }))?.id, 'l-0');
}));

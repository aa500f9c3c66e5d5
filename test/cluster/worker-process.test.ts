// Worker processes and the placement controller against a real etcd member: replicas placed on
// workers apply what is appended to their shard logs (as the proxy appends it) and answer alike over
// gRPC; a worker killed with SIGKILL has its replicas moved (add, then remove); a wiped worker
// rebuilds from a peer snapshot once the log was truncated; a stopped controller's successor takes
// over; a taken port and an unreachable etcd at start.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as connectTcp, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { parseWorker, workerKey, WORKERS } from '../../src/cluster/cluster-keys.ts';
import { startController, type RunningController } from '../../src/cluster/controller.ts';
import { EtcdMembers } from '../../src/cluster/etcd-members.ts';
import { LocalCluster } from '../../src/cluster/local-cluster.ts';
import { WorkerClients } from '../../src/cluster/worker-client.ts';
import { startWorker, type RunningWorker } from '../../src/cluster/worker-process.ts';
import { freePort } from '../../src/cli/postgres-server.ts';
import type { Config } from '../../src/config.ts';
import { SqlState, VectorgateError } from '../../src/errors.ts';
import type { EtcdConnection } from '../../src/storage/etcd-client.ts';
import { EtcdLogWriter } from '../../src/storage/etcd-log.ts';
import { logKeys, readCounters } from '../../src/storage/etcd-log-read.ts';
import { EtcdMirror } from '../../src/storage/etcd-mirror.ts';
import { seeded } from '../helpers/random.ts';
import { runProcess } from '../helpers/run-process.ts';
import {
  answers, append, applied, capturingLogger, clusterConfig, clusterEnv, connect, createCollection, placementOf, rows, settledPlacement, until,
} from './cluster-fixture.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-worker-'));
const BIN = fileURLToPath(new URL('../../bin/vectorgate.js', import.meta.url));
const silent = pino({ level: process.env.VG_TEST_LOG ?? 'silent' });
let etcd: EtcdMembers;
let dirs = 0;

before(async () => { etcd = await EtcdMembers.start({ count: 1, dir: join(root, 'etcd') }); });
after(async () => {
  await etcd?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** What a test starts; all of it is stopped at its end, also on failure. */
class World {
  readonly config: Config;
  readonly conn: EtcdConnection;
  readonly clients: WorkerClients;
  readonly writer: EtcdLogWriter;
  readonly workers: RunningWorker[] = [];
  readonly controllers: RunningController[] = [];
  readonly #stops: (() => Promise<void>)[] = [];

  constructor(overrides: Partial<Config> = {}) {
    this.config = clusterConfig(etcd.urls, overrides);
    this.conn = connect(this.config);
    this.clients = new WorkerClients(this.config);
    this.writer = new EtcdLogWriter(this.conn, this.config);
  }

  dataDir(): string { return join(root, `data-${dirs++}`); }

  async worker(dataDir = this.dataDir(), log = silent, overrides: Partial<Config> = {}): Promise<RunningWorker> {
    const worker = await startWorker({ ...this.config, dataDir, ...overrides }, log);
    this.workers.push(worker);
    this.#stops.push(() => worker.stop());
    await worker.ready;
    return worker;
  }

  controller(id: string): RunningController {
    const conn = connect(this.config);
    const controller = startController({ conn, config: this.config, id, log: silent });
    this.controllers.push(controller);
    this.#stops.push(async () => { await controller.stop(); conn.client.close(); });
    return controller;
  }

  later(stop: () => Promise<void>): void { this.#stops.push(stop); }

  /** The address worker `id` registered. */
  async addressOf(id: string): Promise<string> {
    const value = await this.conn.client.get(workerKey(this.config.etcdPrefix, id)).buffer();
    assert.ok(value !== null, `worker ${id} is registered`);
    return parseWorker(value)!.address;
  }

  async stop(): Promise<void> {
    for (const stop of this.#stops.reverse()) await stop().catch((err: unknown) => console.error('stop failed:', err));
    this.clients.close();
    this.conn.client.close();
  }
}

async function inWorld(overrides: Partial<Config>, use: (world: World) => Promise<void>): Promise<void> {
  const world = new World(overrides);
  try { await use(world); } finally { await world.stop(); }
}

const isError = (code: string, pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof VectorgateError, String(err));
  assert.equal(err.code, code, err.message);
  assert.match(err.message, pattern);
  return true;
};

test('replicas on three workers apply the shard logs and answer alike; other workers and writes are refused', () => inWorld({}, async (world) => {
  world.controller('proxy-a');
  const workers = [await world.worker(), await world.worker(), await world.worker()];
  const entry = await createCollection(world.conn, world.config, 'docs', 2, 2);
  const random = seeded(11);
  const queries = Array.from({ length: 5 }, () => Float32Array.from({ length: 8 }, () => random() * 2 - 1));
  for (const shard of [0, 1]) {
    let seq = 0;
    for (let batch = 0; batch < 3; batch++) seq = await append(world.writer, entry, shard, rows(random, `s${shard}b${batch}`, 40, 8));
    seq = await append(world.writer, entry, shard, [{ op: 'delete', id: `s${shard}b0-3` }]);
    const key = `${entry.dir}/${shard}`;
    const placed = await settledPlacement(world.conn, world.config, key, 2);
    assert.notEqual(placed[0]!.worker, placed[1]!.worker, 'replicas on distinct workers');
    const clients = await Promise.all(placed.map(async (r) => world.clients.get(await world.addressOf(r.worker))));
    for (const client of clients) await applied(client, key, seq);
    const ids = [`s${shard}b0-3`, `s${shard}b1-7`, `s${shard}b2-39`];
    const [first, second] = await Promise.all(clients.map((c) => answers(c, key, queries, ids)));
    assert.deepEqual(first, second);
    assert.equal((first as { count: number }).count, 119);
    const other = workers.find((w) => !placed.some((r) => r.worker === w.id))!;
    await assert.rejects(world.clients.get(other.address).call({ type: 'search', shard: key, query: queries[0]!, k: 5, options: {} }),
      isError(SqlState.ObjectNotInPrerequisiteState, new RegExp(`holds no open replica of shard ${key}`)));
    await assert.rejects(clients[0]!.call({ type: 'write', shard: key, delete: ['x'] }), isError(SqlState.FeatureNotSupported, /does not take write requests/));
  }
}));

test('a worker process killed with SIGKILL: after its lease and the grace its replicas move, added before removed, and serve the same rows', () => inWorld({}, async (world) => {
  const keys: (keyof Config)[] = ['etcdPrefix', 'workerLeaseTtlSeconds', 'workerReportIntervalMs', 'etcdTailCheckMs', 'etcdCallTimeoutMs', 'workerEtcdRetryMs', 'workerOpenRetryMs', 'logLevel'];
  const dir = join(root, `cluster-${dirs++}`);
  mkdirSync(dir);
  const cluster = await LocalCluster.start({ dir, upstream: { host: '127.0.0.1', port: 1 }, etcdUrls: etcd.urls, workers: 3, proxies: 0, env: clusterEnv(world.config, keys) });
  world.later(() => cluster.stop());
  world.controller('proxy-a');
  const entry = await createCollection(world.conn, world.config, 'moved', 1, 2);
  const key = `${entry.dir}/0`;
  const random = seeded(12);
  let seq = 0;
  for (let batch = 0; batch < 3; batch++) seq = await append(world.writer, entry, 0, rows(random, `b${batch}`, 50, 8));
  const before = await settledPlacement(world.conn, world.config, key, 2);
  const history: { worker: string; state: string }[][] = [];
  const mirror = await EtcdMirror.open({ conn: world.conn, prefix: `${world.config.etcdPrefix}placement/`, callTimeoutMs: 2000, retryMs: 100 });
  world.later(() => mirror.close());
  mirror.onChange((changes) => { for (const c of changes) if (c.key === key && c.kind === 'put') history.push((JSON.parse(c.value.toString()) as { replicas: { worker: string; state: string }[] }).replicas); });
  const victim = before[0]!.worker;
  const victimAddress = await world.addressOf(victim);
  const child = cluster.workers.find((w) => w.address === victimAddress)!;
  await child.kill('SIGKILL');
  seq = await append(world.writer, entry, 0, rows(random, 'after-kill', 10, 8));
  const after = await settledPlacement(world.conn, world.config, key, 2, (replicas) => !replicas.some((r) => r.worker === victim));
  const newcomer = after.find((r) => !before.some((b) => b.worker === r.worker))!.worker;
  const firstSeen = history.find((replicas) => replicas.some((r) => r.worker === newcomer))!;
  assert.equal(firstSeen.find((r) => r.worker === newcomer)!.state, 'joining', 'the new replica joins first');
  const survivor = before[1]!.worker;
  assert.ok(firstSeen.some((r) => r.worker === survivor && r.state === 'serving'), 'the survivor serves while the new replica joins');
  const clients = await Promise.all(after.map(async (r) => world.clients.get(await world.addressOf(r.worker))));
  for (const client of clients) await applied(client, key, seq);
  const queries = Array.from({ length: 5 }, () => Float32Array.from({ length: 8 }, () => random() * 2 - 1));
  const ids = ['b0-0', 'b2-49', 'after-kill-9'];
  const [a, b] = await Promise.all(clients.map((c) => answers(c, key, queries, ids)));
  assert.deepEqual(a, b);
  assert.equal((a as { count: number }).count, 160);
}));

test('a wiped worker rebuilds its replica from a peer snapshot and the log once the controller truncated the log', () => inWorld({ snapshotMinLogBytes: 1, snapshotCheckIntervalMs: 100 }, async (world) => {
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

test('controller failover: when the leading controller stops, another takes over and places new collections', () => inWorld({}, async (world) => {
  const controllers = [world.controller('proxy-a'), world.controller('proxy-b')];
  await world.worker();
  const leader = await until('a leader', () => controllers.find((c) => c.isLeader));
  assert.equal(controllers.filter((c) => c.isLeader).length, 1, 'one leader');
  const first = await createCollection(world.conn, world.config, 'first', 1, 1);
  await settledPlacement(world.conn, world.config, `${first.dir}/0`, 1);
  await leader.stop();
  const successor = await until('another leader', () => controllers.find((c) => c !== leader && c.isLeader));
  assert.ok(!leader.isLeader);
  const second = await createCollection(world.conn, world.config, 'second', 1, 1);
  await settledPlacement(world.conn, world.config, `${second.dir}/0`, 1);
  assert.ok(successor.isLeader);
  assert.equal((await placementOf(world.conn, world.config, `${first.dir}/0`)).length, 1, 'the first placement stays');
}));

test('vectorgate worker on a port already taken exits 1 naming host:port', async () => {
  const server = createServer();
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  try {
    const result = await runProcess(process.execPath, [BIN, 'worker', '--etcd', etcd.urls, '--listen', `127.0.0.1:${port}`, '--data-dir', join(root, `taken-${dirs++}`)]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`worker cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use`));
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('etcd unreachable at start: the worker logs retries with back-off, then registers once etcd answers', () => inWorld({}, async (world) => {
  const port = await freePort();
  const { log, lines } = capturingLogger();
  const worker = await startWorker({ ...world.config, etcdEndpoints: `http://127.0.0.1:${port}`, dataDir: world.dataDir() }, log);
  world.later(() => worker.stop());
  const retries = () => lines.filter((l) => l.msg === 'worker cannot reach etcd; retrying');
  await until('two logged retries', () => (retries().length >= 2 ? true : undefined));
  assert.ok((retries()[1]!.retryMs as number) > (retries()[0]!.retryMs as number), 'the wait grows');
  assert.match(String(retries()[0]!.err), /etcd is unreachable/);
  const relay = await forward(port, Number(new URL(etcd.endpoints[0]!).port));
  world.later(() => relay.close());
  await worker.ready;
  assert.ok(await world.conn.client.get(workerKey(world.config.etcdPrefix, worker.id)).exists(), 'registered');
}));

test('SIGTERM: the worker process revokes its lease (its registration goes at once) and exits 0', () => inWorld({}, async (world) => {
  const dataDir = world.dataDir();
  const port = await freePort();
  const env = { ...process.env, ...clusterEnv(world.config, ['etcdPrefix', 'workerLeaseTtlSeconds']), VECTORGATE_LOG_LEVEL: 'info' };
  const child = spawn(process.execPath, [BIN, 'worker', '--etcd', etcd.urls, '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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

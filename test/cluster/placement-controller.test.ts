// The placement controller with workers against a real etcd member: replicas placed on workers apply
// what is appended to their shard logs (as the proxy appends it) and answer alike over gRPC; a worker
// process killed with SIGKILL has its replicas moved (add, then remove); a stopped controller's
// successor takes over; a deposed controller cannot write; a dropped collection is cleaned up.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { LocalCluster } from '../../src/cluster/local-cluster.ts';
import type { Config } from '../../src/config.ts';
import { SqlState } from '../../src/errors.ts';
import { EtcdCatalogStore } from '../../src/storage/etcd-catalog.ts';
import { EtcdMirror } from '../../src/storage/etcd-mirror.ts';
import { seeded } from '../helpers/random.ts';
import { answers, append, applied, capturingLogger, clusterEnv, createCollection, placementOf, rows, settledPlacement, until } from './cluster-fixture.ts';
import { EtcdShared, inWorld, isError } from './cluster-world.ts';

const CONTROLLER_CHILD = fileURLToPath(new URL('./controller-child.ts', import.meta.url));
const shared = new EtcdShared('controller');
before(() => shared.start());
after(() => shared.stop());

test('replicas on three workers apply the shard logs and answer alike; other workers and writes are refused', () => inWorld(shared, {}, async (world) => {
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

test('a worker process killed with SIGKILL: after its lease and the grace its replicas move, added before removed, and serve the same rows', () => inWorld(shared, {}, async (world) => {
  const keys: (keyof Config)[] = ['etcdPrefix', 'workerLeaseTtlSeconds', 'workerReportIntervalMs', 'etcdTailCheckMs', 'etcdCallTimeoutMs', 'workerEtcdRetryMs', 'workerOpenRetryMs', 'logLevel'];
  const dir = shared.dir('cluster');
  mkdirSync(dir);
  const cluster = await LocalCluster.start({ dir, upstream: { host: '127.0.0.1', port: 1 }, etcdUrls: shared.etcd.urls, workers: 3, proxies: 0, env: clusterEnv(world.config, keys) });
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

test('controller failover: when the leading controller stops, another takes over and places new collections', () => inWorld(shared, {}, async (world) => {
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

test('controller failover after a crash: when the leading controller process is killed with SIGKILL, another takes over once its election lease expires', () => inWorld(shared, {}, async (world) => {
  const env = { ...process.env, ...clusterEnv(world.config, ['etcdEndpoints', 'etcdPrefix', 'controllerLeaseTtlSeconds', 'placementIntervalMs', 'etcdCallTimeoutMs']) };
  const child = spawn(process.execPath, ['--import', 'tsx', CONTROLLER_CHILD, 'proxy-a'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  world.later(async () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); await exited; });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  await until('the child controller to lead', () => (output.includes('"placement controller elected"') ? true : undefined));
  const second = world.controller('proxy-b');
  await world.worker();
  const entry = await createCollection(world.conn, world.config, 'before-crash', 1, 1);
  await settledPlacement(world.conn, world.config, `${entry.dir}/0`, 1);
  assert.ok(!second.isLeader, 'the child leads');
  child.kill('SIGKILL');
  await exited;
  await until('proxy-b to lead', () => (second.isLeader ? true : undefined));
  const after = await createCollection(world.conn, world.config, 'after-crash', 1, 1);
  await settledPlacement(world.conn, world.config, `${after.dir}/0`, 1);
}));

test('a collection dropped from the catalog loses its placement, its log in etcd and its replica files', () => inWorld(shared, { snapshotMinLogBytes: 1, snapshotCheckIntervalMs: 100 }, async (world) => {
  world.controller('proxy-a');
  const dataDir = world.dataDir();
  await world.worker(dataDir);
  const entry = await createCollection(world.conn, world.config, 'dropped', 2, 1);
  for (const shard of [0, 1]) await append(world.writer, entry, shard, rows(seeded(15), `s${shard}`, 10, 8));
  for (const shard of [0, 1]) await settledPlacement(world.conn, world.config, `${entry.dir}/${shard}`, 1);
  await until('replica snapshots on disk', () => (existsSync(join(dataDir, 'replicas', entry.dir, '1', 'snapshots')) ? true : undefined));
  const catalog = await EtcdCatalogStore.open({ client: world.conn.client, endpoints: shared.etcd.endpoints, config: world.config });
  try { await catalog.remove('app', 'dropped'); } finally { await catalog.close(); }
  const under = async (prefix: string) => (await world.conn.client.getAll().prefix(prefix).keys()).length;
  await until('placement and log gone', async () => (await under(`${world.config.etcdPrefix}placement/${entry.dir}/`) === 0 && await under(`${world.config.etcdPrefix}log/${entry.dir}/`) === 0 ? true : undefined));
  await until('replica files gone', () => (existsSync(join(dataDir, 'replicas', entry.dir, '0')) || existsSync(join(dataDir, 'replicas', entry.dir, '1')) ? undefined : true));
  await until('reports gone', async () => (await under(`${world.config.etcdPrefix}replicas/${entry.dir}/`) === 0 ? true : undefined));
}));

test('a controller whose campaign key is gone (deposed) writes no placement, then campaigns again', () => inWorld(shared, {}, async (world) => {
  const { log, lines } = capturingLogger();
  const controller = world.controller('proxy-a', log);
  await world.worker();
  await until('the controller to lead', () => (controller.isLeader ? true : undefined));
  const election = `election/${world.config.etcdPrefix}controller/`;
  const campaignKeys = await world.conn.client.getAll().prefix(election).keys();
  assert.equal(campaignKeys.length, 1);
  await world.conn.client.delete().key(campaignKeys[0]!);
  const entry = await createCollection(world.conn, world.config, 'guarded', 1, 1);
  await until('the deposed write refused', () => (lines.some((l) => l.msg === 'placement controller: its campaign key is gone (deposed); not writing placement') ? true : undefined));
  const refusedAt = lines.findIndex((l) => l.msg === 'placement controller: its campaign key is gone (deposed); not writing placement');
  assert.ok(!lines.slice(0, refusedAt).some((l) => l.msg === 'placement move'), 'nothing was placed before the refusal');
  await settledPlacement(world.conn, world.config, `${entry.dir}/0`, 1);
  const electedAgain = lines.findIndex((l, i) => i > refusedAt && l.msg === 'placement controller elected');
  assert.ok(electedAgain > refusedAt, 'it placed the collection only after campaigning again');
}));

test('the leading controller compacts etcd history every etcdCompactIntervalMs', () => inWorld(shared, { etcdCompactIntervalMs: 200 }, async (world) => {
  const key = `${world.config.etcdPrefix}probe`;
  const first = await world.conn.client.put(key).value('1').exec();
  await world.conn.client.put(key).value('2');
  const controller = world.controller('proxy-a');
  await until('the controller to lead', () => (controller.isLeader ? true : undefined));
  await until('the first revision compacted', async () => {
    try {
      await world.conn.client.get(key).revision(first.header.revision).string();
      return undefined;
    } catch (err) {
      return /compacted/.test(String(err)) ? true : undefined;
    }
  });
}));

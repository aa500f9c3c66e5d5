// Faults seen through SQL on a cluster of processes (3 etcd members, 2 workers, a proxy, a real
// PostgreSQL): a write over the etcd record or transaction limit is refused with 54000; every etcd
// member killed while two clients write multi-shard batches fails the writes with 08006/57014, the
// sessions go on, and afterwards every batch is on every replica whole or not at all; a proxy started
// while etcd is unreachable logs the endpoints, retries, and serves once etcd is up (it has no
// workers: what it serves is the catalog and writes, both in etcd).
// (A worker on a taken port is covered by test/cluster/worker-process.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pg from 'pg';
import { EtcdMembers } from '../../src/cluster/etcd-members.ts';
import { ChildHandle } from '../../src/cluster/local-cluster.ts';
import { freePort } from '../../src/cli/postgres-server.ts';
import { shardOf } from '../../src/router/router.ts';
import { ClusterInspector } from '../helpers/cluster-inspect.ts';
import { DATABASE, ROLES } from '../helpers/cluster.ts';
import { seeded } from '../helpers/random.ts';
import { eventually, FAST_CLUSTER_ENV, startVgCluster, type VgCluster } from '../helpers/vg-cluster.ts';

const DIMS = 8;
const RECORD_MAX_BYTES = 16_384;
const TXN_MAX_BYTES = 65_536;
const LIMITS_ENV = {
  VECTORGATE_ETCD_CALL_TIMEOUT_MS: '1000',
  VECTORGATE_ETCD_WRITE_TIMEOUT_MS: '3000',
  VECTORGATE_ETCD_RECORD_MAX_BYTES: String(RECORD_MAX_BYTES),
  VECTORGATE_ETCD_TXN_MAX_BYTES: String(TXN_MAX_BYTES),
  VECTORGATE_CLUSTER_READ_TIMEOUT_MS: '5000',
};

let vg: VgCluster;
let inspector: ClusterInspector;
const clients: pg.Client[] = [];
const random = seeded(1010);
const vector = () => Array.from({ length: DIMS }, () => random() * 2 - 1);
const text = (v: number[]) => `[${v.join(',')}]`;

before(async () => {
  vg = await startVgCluster({ etcdMembers: 3, workers: 2, proxies: 1, env: LIMITS_ENV });
  inspector = new ClusterInspector(vg.cluster.etcdUrls);
  for (let i = 0; i < 2; i++) clients.push(await vg.client(0));
});
after(async () => {
  for (const client of clients) await client.end().catch(() => undefined);
  inspector?.close();
  await vg?.stop();
});

interface PgError { code?: string; message: string; hint?: string }

async function sqlError(promise: Promise<unknown>): Promise<PgError> {
  let caught: PgError | undefined;
  await assert.rejects(promise, (err: PgError) => { caught = err; return true; });
  return caught!;
}

async function stillServes(client: pg.Client): Promise<void> {
  assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1, 'the session goes on');
}

test('a write over the etcd record or transaction limit is refused with 54000 naming the limit; the session goes on', async () => {
  const [client] = clients as [pg.Client];
  await client.query(`SELECT vector_create_collection('limits', ${DIMS}, shards => 2, replicas => 2)`);
  const oneBigRow = [{ id: 'huge', vector: vector(), payload: { pad: 'x'.repeat(RECORD_MAX_BYTES + 100) } }];
  const record = await sqlError(client.query(`SELECT vector_upsert('limits', $1::jsonb)`, [JSON.stringify(oneBigRow)]));
  assert.equal(record.code, '54000', record.message);
  assert.match(record.message, new RegExp(`the row with id "huge" takes \\d+ bytes in the log, over its record limit of \\d+ bytes`));
  await stillServes(client);

  const manyRows = Array.from({ length: 8 }, (_, i) => ({ id: `wide-${i}`, vector: vector(), payload: { pad: 'y'.repeat(10_000) } }));
  const txn = await sqlError(client.query(`SELECT vector_upsert('limits', $1::jsonb)`, [JSON.stringify(manyRows)]));
  assert.equal(txn.code, '54000', txn.message);
  assert.match(txn.message, new RegExp(`a write of \\d+ bytes exceeds etcdTxnMaxBytes \\(${TXN_MAX_BYTES}\\)`));
  assert.match(txn.hint ?? '', /smaller batches/);
  await stillServes(client);

  await client.query(`SELECT vector_upsert('limits', $1::jsonb)`, [JSON.stringify(manyRows.slice(0, 2))]);
  const found: string[] = [];
  for (const id of ['wide-0', 'wide-1', 'wide-5', 'huge']) {
    found.push(...(await client.query(`SELECT id FROM vector_get('limits', $1, read_consistency => 'session')`, [id])).rows.map((r) => r.id as string));
  }
  assert.deepEqual(found, ['wide-0', 'wide-1'], 'nothing of a refused write was applied');
});

test('every etcd member killed while clients write: writes fail with 08006/57014, sessions go on, no batch is half-applied on any replica', async (t) => {
  const [first] = clients as [pg.Client];
  await first.query(`SELECT vector_create_collection('mid', ${DIMS}, shards => 3, replicas => 2)`);
  const entry = await inspector.entry(DATABASE, 'mid');
  const batches: string[][] = [];
  const acknowledged = new Set<number>();
  const failures: PgError[] = [];
  let acked = 0;
  let reachedKill!: () => void;
  const enoughAcked = new Promise<void>((resolve) => { reachedKill = resolve; });
  const writer = async (client: pg.Client, name: string) => {
    for (let b = 0; ; b++) {
      const ids = Array.from({ length: 6 }, (_, j) => `${name}-${b}-${j}`);
      const index = batches.push(ids) - 1;
      const rows = ids.map((id) => ({ id, vector: vector(), payload: { b } }));
      try {
        await client.query(`SELECT vector_upsert('mid', $1::jsonb)`, [JSON.stringify(rows)]);
        acknowledged.add(index);
        if (++acked >= 6) reachedKill();
      } catch (err) {
        failures.push(err as PgError);
        reachedKill(); // a failure before the kill is asserted on below, not waited on for ever
        return;
      }
    }
  };
  const writing = clients.map((client, i) => writer(client, `w${i}`));
  const etcd = vg.cluster.etcd!;
  try {
    await enoughAcked;
    await Promise.all([0, 1, 2].map((i) => etcd.kill(i)));
    await Promise.all(writing);
  } finally {
    for (let i = 0; i < 3; i++) etcd.restart(i);
  }
  assert.equal(failures.length, 2, 'each writer saw its write fail');
  for (const failure of failures) {
    assert.ok(failure.code === '08006' || failure.code === '57014', `${failure.code}: ${failure.message}`);
    if (failure.code === '08006') assert.match(failure.message, /etcd is unreachable/);
  }
  for (const client of clients) await stillServes(client);
  await etcd.waitHealthy(30_000);

  const after = [`after-0`, `after-1`, `after-2`, `after-3`];
  await eventually('a write through the proxy once etcd is back', async () => {
    await first.query(`SELECT vector_upsert('mid', $1::jsonb)`, [JSON.stringify(after.map((id) => ({ id, vector: vector() })))]);
    return true;
  }, 60_000);
  await eventually('every replica to apply the whole log', () => inspector.settled(entry), 60_000);

  const everyId = batches.flat();
  const copies = await inspector.rowsOnEveryReplica(entry, everyId);
  batches.forEach((ids, index) => {
    assert.ok(new Set(ids.map((id) => shardOf(id, entry.shards))).size > 1, `batch ${index} spans shards`);
    const present = ids.flatMap((id) => [...copies.values()].filter((rows) => rows.has(id)).map((rows) => rows.get(id) !== null));
    assert.equal(present.length, ids.length * entry.replicas, `every row of batch ${index} was looked up on each of its replicas`);
    assert.ok(present.every((p) => p) || present.every((p) => !p), `batch ${index} (${ids.join(', ')}) is whole or absent on every replica: ${present.join(',')}`);
    if (acknowledged.has(index)) assert.ok(present[0], `acknowledged batch ${index} is present`);
  });
  const applied = batches.filter((ids) => [...copies.values()].some((rows) => rows.get(ids[0]!) != null)).length;
  t.diagnostic(`${batches.length} batches of 6 rows over ${entry.shards} shards x ${entry.replicas} replicas: ${acknowledged.size} acknowledged, ${applied} applied; failures: ${failures.map((f) => `${f.code} ${f.message}`).join(' | ')}`);
});

test('a proxy started while etcd is unreachable logs the endpoints, retries, and serves once etcd is up', async () => {
  const etcd = await EtcdMembers.start({ count: 1, dir: join(vg.dir, 'late-etcd') });
  let proxy: ChildHandle | undefined;
  let client: pg.Client | undefined;
  try {
    await etcd.kill(0);
    const port = await freePort();
    proxy = new ChildHandle('late proxy', port, ['proxy', '--upstream', `postgres://127.0.0.1:${vg.pg.port}`, '--etcd', etcd.urls,
      '--listen', `127.0.0.1:${port}`, '--metrics-listen', '127.0.0.1:0'], { ...process.env, ...FAST_CLUSTER_ENV, ...LIMITS_ENV }, 120_000);
    const started = proxy.start();
    started.catch(() => undefined);
    const retries = () => proxy!.output.split('\n').filter((line) => line.includes('etcd is unreachable; retrying'));
    await eventually('two logged attempts to reach etcd', async () => retries().length >= 2, 60_000);
    assert.ok(retries()[0]!.includes(etcd.endpoints[0]!), `the log line names the endpoint: ${retries()[0]}`);
    etcd.restart(0);
    await started;
    client = await connectTo(port);
    await client.query(`SELECT vector_create_collection('late', ${DIMS})`);
    await client.query(`SELECT vector_upsert('late', 'a', $1)`, [text(vector())]);
    const again = await sqlError(client.query(`SELECT vector_create_collection('late', ${DIMS})`));
    assert.equal(again.code, '42710', `the catalog in etcd holds the collection: ${again.message}`);
  } finally {
    await client?.end().catch(() => undefined);
    await proxy?.kill('SIGKILL');
    await etcd.stop();
  }
});

async function connectTo(port: number): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
  return client;
}

// The consistency levels in a real cluster (3 etcd members, 3 workers, 2 proxies), checked on
// recorded histories:
// - writes through proxy A and `linearizable` reads through proxy B, while the etcd leader and a
//   worker are killed and restarted: the history is linearizable (our checker, test/helpers);
// - each writer's own `session` reads through A see its writes (read your writes);
// - `eventual` reads may be stale, and the test shows they are: worker 2 talks only to etcd member 2,
//   which is frozen (SIGSTOP) so its replica stops applying while still serving; eventual reads
//   through B then return old values, while linearizable and session reads never do.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { startVgCluster, type VgCluster } from '../helpers/vg-cluster.ts';
import { ClusterInspector } from '../helpers/cluster-inspect.ts';
import { DATABASE } from '../helpers/cluster.ts';
import { checkLinearizable, checkSessionReads, kvRegister, type KvInput, type Operation } from '../helpers/linearizability.ts';
import { randomInt, seeded } from '../helpers/random.ts';

type Op = Operation<KvInput, string | null>;
const KEYS = ['k0', 'k1', 'k2'];
const STALE_WORKER = 2;
const FROZEN_MEMBER = 2;

let vg: VgCluster;
let inspector: ClusterInspector;

before(async () => {
  vg = await startVgCluster({
    workers: 3, proxies: 2,
    // Worker 2 knows only member 2 and the proxies only members 0 and 1, so freezing member 2 cuts
    // worker 2 off from the log while the quorum, the proxies and the other workers go on.
    workerEtcdUrls: (i, all) => (i === STALE_WORKER ? [all[FROZEN_MEMBER]!] : all),
    proxyEtcdUrls: (_, all) => all.filter((__, m) => m !== FROZEN_MEMBER),
    // Long enough that the cut-off worker is still registered (and chosen) while the reads below run.
    env: { VECTORGATE_WORKER_LEASE_TTL_SECONDS: '8' },
  });
  inspector = new ClusterInspector(vg.cluster.etcdUrls);
  const client = await vg.client(0);
  try {
    await client.query(`SELECT vector_create_collection('reg', 2, shards => 2, replicas => 2)`);
    await client.query(`SELECT vector_create_collection('all3', 2, shards => 1, replicas => 3)`);
  } finally {
    await client.end();
  }
  for (const name of ['reg', 'all3']) {
    const entry = await inspector.entry(DATABASE, name);
    await waitFor(() => inspector.settled(entry), `${name} to be placed and serving`);
  }
});
after(async () => {
  inspector?.close();
  await vg?.stop();
});

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const asVector = (value: number) => `[${value},0]`;
const valueOf = (row: { vector?: number[] } | undefined) => (row?.vector === undefined ? null : String(row.vector[0]));

async function write(client: pg.Client, collection: string, key: string, value: number): Promise<void> {
  await client.query(`SELECT vector_upsert($1, $2, $3)`, [collection, key, asVector(value)]);
}

async function read(client: pg.Client, collection: string, key: string, level: string): Promise<string | null> {
  const res = await client.query(`SELECT vector FROM vector_get($1, $2, read_consistency => $3)`, [collection, key, level]);
  return valueOf(res.rows[0] as { vector?: number[] } | undefined);
}

/** Runs one operation, recording it; a failed write has an unknown outcome, a failed read is left out. */
async function record(history: Op[], client: string, input: KvInput, run: () => Promise<string | null | void>): Promise<Op | null> {
  const invokeMs = performance.now();
  let op: Op | null = null;
  try {
    const output = await run();
    op = { client, input, output: input.kind === 'read' ? (output as string | null) : undefined, invokeMs, completeMs: performance.now() };
  } catch {
    if (input.kind === 'write') op = { client, input, invokeMs, completeMs: null };
  }
  if (op !== null) history.push(op);
  return op;
}

test('linearizable reads through B of writes through A stay linearizable across etcd leader and worker kills; session reads see their own writes', async () => {
  const linearizable: Op[] = [];
  const sessions: Op[] = [];
  const stop = { done: false };
  let next = 1;
  const writer = async (w: number) => {
    const client = await vg.client(0);
    client.on('error', () => undefined);
    const random = seeded(50 + w);
    try {
      while (!stop.done) {
        const key = KEYS[randomInt(random, KEYS.length)]!;
        const value = String(next++);
        const input: KvInput = { kind: 'write', key, value };
        const op = await record(linearizable, `w${w}`, input, () => write(client, 'reg', key, Number(value)));
        if (op !== null) sessions.push(op);
        await record(sessions, `w${w}`, { kind: 'read', key }, () => read(client, 'reg', key, 'session'));
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  const reader = async (r: number) => {
    const client = await vg.client(1);
    client.on('error', () => undefined);
    const random = seeded(70 + r);
    try {
      while (!stop.done) {
        const key = KEYS[randomInt(random, KEYS.length)]!;
        await record(linearizable, `r${r}`, { kind: 'read', key }, () => read(client, 'reg', key, 'linearizable'));
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  const loops = [writer(0), writer(1), reader(0), reader(1)];
  try {
    await sleep(1500);
    const etcd = vg.cluster.etcd!;
    const leader = (await etcd.leader())!;
    await etcd.kill(leader);
    await sleep(2000);
    etcd.restart(leader);
    await etcd.waitHealthy(30_000);
    await vg.cluster.workers[0]!.kill('SIGKILL');
    await sleep(2000);
    await vg.cluster.workers[0]!.start();
    await sleep(1500);
  } finally {
    stop.done = true;
    await Promise.all(loops);
  }
  const reads = linearizable.filter((op) => op.input.kind === 'read');
  const writes = linearizable.filter((op) => op.input.kind === 'write');
  assert.ok(reads.length > 20 && writes.length > 20, `enough history (${writes.length} writes, ${reads.length} reads)`);
  const result = checkLinearizable(linearizable, kvRegister);
  assert.equal(result.verdict, 'linearizable', result.anomaly?.description);
  const session = checkSessionReads(sessions, kvRegister);
  assert.deepEqual(session.violations, []);
  console.log(`linearizability: ${linearizable.length} operations (${writes.length} writes, ${writes.filter((w) => w.completeMs === null).length} with unknown outcome, ${reads.length} linearizable reads): anomalies 0; session: ${sessions.length} operations, violations 0`);
});

test('eventual reads can be stale (a replica cut off from etcd still serves); linearizable, session and bounded reads are not', async () => {
  const writerClient = await vg.client(0);
  const readerClient = await vg.client(1);
  const etcd = vg.cluster.etcd!;
  try {
    await write(writerClient, 'all3', 'x', 1);
    const entry = await inspector.entry(DATABASE, 'all3');
    await waitFor(() => inspector.settled(entry), 'every replica of all3 to apply x = 1');
    process.kill(etcd.pid(FROZEN_MEMBER)!, 'SIGSTOP');
    let stale = 0;
    let fresh = 0;
    try {
      await write(writerClient, 'all3', 'x', 2);
      for (let i = 0; i < 30; i++) {
        const seen = await read(readerClient, 'all3', 'x', 'eventual');
        if (seen === '1') stale++; else if (seen === '2') fresh++;
        assert.equal(await read(readerClient, 'all3', 'x', 'linearizable'), '2', 'a linearizable read never returns the old value');
        assert.equal(await read(writerClient, 'all3', 'x', 'session'), '2', 'the writer reads its own write');
      }
      // Once the cut-off replica has not heard from its log for longer than the bound, bounded reads avoid it.
      await sleep(2500);
      await readerClient.query('SET vectorgate.max_staleness_ms = 1500');
      for (let i = 0; i < 15; i++) assert.equal(await read(readerClient, 'all3', 'x', 'bounded'), '2', 'a bounded read is never older than its bound');
    } finally {
      process.kill(etcd.pid(FROZEN_MEMBER)!, 'SIGCONT');
    }
    assert.ok(stale > 0, `eventual reads went to the cut-off replica and saw the old value (stale ${stale}, fresh ${fresh})`);
    assert.ok(fresh > 0, 'and to the others, which had the new one');
    console.log(`eventual reads with one replica cut off: ${stale} stale, ${fresh} fresh of 30`);
  } finally {
    await writerClient.end();
    await readerClient.end();
  }
});

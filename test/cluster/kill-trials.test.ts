// Kill trials: 3 etcd members, 3 workers, 2 proxies, collections with 2 and 3 replicas. In each of 21
// seeded trials several clients write through the proxies while one process is killed with SIGKILL at
// a seeded moment — a worker, the etcd leader or a proxy, in turn — and restarted after a seeded
// while; a reader on a proxy that stays up searches all along and must always get an answer. One more
// trial runs with an etcd follower down the whole time. Afterwards every acknowledged id is present,
// with its exact vector and payload, on every replica, and the replicas of a shard hold the same rows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { eventually, startVgCluster, type VgCluster } from '../helpers/vg-cluster.ts';
import { ClusterInspector } from '../helpers/cluster-inspect.ts';
import { randomInt, seeded, type Random } from '../helpers/random.ts';
import { DATABASE } from '../helpers/cluster.ts';

const DIMS = 4;
const COLLECTIONS = { r2: { shards: 2, replicas: 2 }, r3: { shards: 1, replicas: 3 } } as const;
type Name = keyof typeof COLLECTIONS;
const KINDS = ['worker', 'etcd leader', 'proxy'] as const;
const TRIALS = 21;
const WRITERS = 3;

interface Acked { collection: Name; vector: number[]; payload: Record<string, unknown> }

let vg: VgCluster;
let inspector: ClusterInspector;
const acked = new Map<string, Acked>();
const tally = { attempted: 0, acknowledged: 0, failedWrites: 0, searches: 0 };

before(async () => {
  vg = await startVgCluster({ workers: 3, proxies: 2 });
  inspector = new ClusterInspector(vg.cluster.etcdUrls);
  const client = await vg.client(0);
  try {
    for (const [name, spec] of Object.entries(COLLECTIONS)) {
      await client.query(`SELECT vector_create_collection('${name}', ${DIMS}, shards => ${spec.shards}, replicas => ${spec.replicas})`);
    }
  } finally {
    await client.end();
  }
  for (const name of Object.keys(COLLECTIONS)) await settle(name as Name);
});
after(async () => {
  inspector?.close();
  await vg?.stop();
});

function vectorOf(id: string): number[] {
  const random = seeded([...id].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, 2166136261));
  return Array.from({ length: DIMS }, () => Math.fround(random() * 2 - 1));
}

async function settle(name: Name): Promise<void> {
  const entry = await inspector.entry(DATABASE, name);
  try {
    await eventually(`${name} to have every replica serving and caught up`, () => inspector.settled(entry), 60_000);
  } catch (err) {
    dumpProcesses();
    for (let i = 0; i < entry.shards; i++) {
      const shard = `${entry.dir}/${i}`;
      console.log(`--- ${shard}: committed ${await inspector.committed(shard)}, placement ${JSON.stringify(await inspector.placement(shard))}, reports ${JSON.stringify([...await inspector.reports(shard)])}`);
    }
    throw err;
  }
}

function dumpProcesses(): void {
  for (const child of [...vg.cluster.proxies, ...vg.cluster.workers]) console.log(`--- ${child.name} (running: ${child.running}):\n${child.output.slice(-3000)}`);
}

/** A client that moves to the other proxy when its proxy goes away. */
class Session {
  #client: pg.Client | null = null;
  #proxy: number;
  constructor(proxy: number) { this.#proxy = proxy; }

  async query(sql: string, params: unknown[]): Promise<pg.QueryResult> {
    if (this.#client === null) {
      const client = await vg.client(this.#proxy).catch(async () => { this.#proxy = 1 - this.#proxy; return vg.client(this.#proxy); });
      client.on('error', () => undefined);
      this.#client = client;
    }
    try {
      return await this.#client.query(sql, params);
    } catch (err) {
      if (!('code' in (err as object)) || (err as { code?: string }).code === '57P01' || (err as { code?: string }).code?.startsWith('08')) {
        await this.#client.end().catch(() => undefined);
        this.#client = null;
        this.#proxy = 1 - this.#proxy;
      }
      throw err;
    }
  }

  async end(): Promise<void> { await this.#client?.end().catch(() => undefined); }
}

async function writer(trial: number, w: number, random: Random, stop: { done: boolean }): Promise<void> {
  const session = new Session(randomInt(random, 2));
  try {
    for (let n = 0; !stop.done; n++) {
      const collection: Name = random() < 0.5 ? 'r2' : 'r3';
      const rows = Array.from({ length: 4 }, (_, j) => {
        const id = `t${trial}-w${w}-${n}-${j}`;
        return { id, vector: vectorOf(id), payload: { trial, w, n, j } };
      });
      tally.attempted += rows.length;
      try {
        await session.query(`SELECT vector_upsert($1, $2::jsonb)`, [collection, JSON.stringify(rows)]);
        for (const row of rows) acked.set(row.id, { collection, vector: row.vector, payload: row.payload });
        tally.acknowledged += rows.length;
      } catch {
        tally.failedWrites += rows.length;
        await sleep(50);
      }
    }
  } finally {
    await session.end();
  }
}

async function reader(proxy: number, random: Random, stop: { done: boolean }, failures: string[]): Promise<void> {
  const client = await vg.client(proxy);
  client.on('error', (err) => failures.push(`reader connection through proxy ${proxy}: ${err.message}`));
  try {
    while (!stop.done) {
      const ids = [...acked.keys()].filter((id) => acked.get(id)!.collection === 'r2');
      if (ids.length === 0) { await sleep(20); continue; }
      const id = ids[randomInt(random, ids.length)]!;
      try {
        const res = await client.query(`SELECT id FROM vector_search('r2', $1, 1)`, [`[${vectorOf(id).join(',')}]`]);
        if (res.rows.length !== 1) failures.push(`search for ${id} returned ${res.rows.length} rows`);
        tally.searches++;
      } catch (err) {
        failures.push(`search for ${id}: ${(err as Error).message}`);
      }
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Kills one process of the kind, waits, restarts it; returns what it killed. */
async function killAndRestart(kind: (typeof KINDS)[number], random: Random, victimProxy: number): Promise<string> {
  await sleep(100 + random() * 500);
  const downMs = 300 + random() * 3500;
  if (kind === 'worker') {
    const worker = vg.cluster.workers[randomInt(random, vg.cluster.workers.length)]!;
    await worker.kill('SIGKILL');
    await sleep(downMs);
    await worker.start();
    return `${worker.name} for ${Math.round(downMs)} ms`;
  }
  if (kind === 'proxy') {
    const proxy = vg.cluster.proxies[victimProxy]!;
    await proxy.kill('SIGKILL');
    await sleep(downMs);
    await proxy.start();
    return `${proxy.name} for ${Math.round(downMs)} ms`;
  }
  const etcd = vg.cluster.etcd!;
  const leader = await etcd.leader();
  assert.notEqual(leader, null, 'etcd has a leader');
  await etcd.kill(leader!);
  await sleep(downMs);
  etcd.restart(leader!);
  await etcd.waitHealthy(30_000);
  return `etcd member ${leader} (the leader) for ${Math.round(downMs)} ms`;
}

async function trial(t: number, kind: (typeof KINDS)[number]): Promise<void> {
  const random = seeded(1000 + t);
  const victimProxy = randomInt(random, 2);
  const readerProxy = kind === 'proxy' ? 1 - victimProxy : randomInt(random, 2);
  const stop = { done: false };
  const failures: string[] = [];
  const loops = [
    ...Array.from({ length: WRITERS }, (_, w) => writer(t, w, seeded(t * 10 + w), stop)),
    reader(readerProxy, seeded(t * 10 + 9), stop, failures),
  ];
  let killed = '';
  try {
    killed = await killAndRestart(kind, random, victimProxy);
    await sleep(300);
  } finally {
    stop.done = true;
    await Promise.all(loops);
  }
  if (failures.length > 0) dumpProcesses();
  assert.deepEqual(failures, [], `trial ${t} (${killed}): searches through proxy ${readerProxy} kept answering`);
  for (const name of Object.keys(COLLECTIONS)) await settle(name as Name);
}

for (let t = 0; t < TRIALS; t++) {
  const kind = KINDS[t % KINDS.length]!;
  test(`trial ${t}: kill -9 of a ${kind} while clients write and search`, async () => trial(t, kind));
}

test('a trial with an etcd follower down the whole time', async () => {
  const etcd = vg.cluster.etcd!;
  const leader = await etcd.leader();
  const follower = [0, 1, 2].find((i) => i !== leader)!;
  await etcd.kill(follower);
  try {
    await trial(TRIALS, 'worker');
  } finally {
    etcd.restart(follower);
    await etcd.waitHealthy(30_000);
  }
});

test('every acknowledged id is on every replica with its exact vector and payload; replicas agree', async () => {
  assert.ok(tally.acknowledged > 0, 'the trials acknowledged writes');
  for (const name of Object.keys(COLLECTIONS) as Name[]) {
    await settle(name);
    const entry = await inspector.entry(DATABASE, name);
    const ids = [...acked].filter(([, a]) => a.collection === name).map(([id]) => id);
    const replicas = await inspector.rowsOnEveryReplica(entry, ids);
    assert.equal(new Set([...replicas.keys()].map((k) => k.split('/')[1])).size, entry.shards);
    for (const [replica, rows] of replicas) {
      for (const [id, row] of rows) {
        assert.ok(row !== null, `${name}: acknowledged ${id} is missing on replica ${replica}`);
        assert.deepEqual([...row.vector], acked.get(id)!.vector, `${name}/${id} on ${replica}: vector`);
        assert.deepEqual(JSON.parse(row.payload!), acked.get(id)!.payload, `${name}/${id} on ${replica}: payload`);
      }
    }
    const counts = await inspector.counts(entry);
    for (let i = 0; i < entry.shards; i++) {
      const ofShard = [...counts].filter(([k]) => k.endsWith(`/${i}`)).map(([, n]) => n);
      assert.equal(ofShard.length, entry.replicas, `${name} shard ${i}: ${entry.replicas} replicas`);
      assert.equal(new Set(ofShard).size, 1, `${name} shard ${i}: replicas hold the same number of rows (${ofShard.join(', ')})`);
    }
  }
  console.log(`kill trials: ${TRIALS + 1} trials, ${tally.attempted} rows attempted, ${tally.acknowledged} acknowledged, ${tally.failedWrites} in failed writes, ${tally.searches} searches, lost 0`);
});

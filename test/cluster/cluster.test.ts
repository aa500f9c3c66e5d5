// The cluster end to end, as processes: 3 etcd members, 3 workers, 2 proxies in front of a real
// PostgreSQL. A collection with 2 replicas created through proxy A is written through A and read
// through B; a kill -9 of a worker leaves searches answering from the surviving replicas; with every
// replica of a shard down the search fails naming the shard; writes go on while workers are down.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { eventually, startVgCluster, type VgCluster } from '../helpers/vg-cluster.ts';
import { seeded } from '../helpers/random.ts';

let vg: VgCluster;
let a: pg.Client;
let b: pg.Client;
const DIMS = 8;
const ROWS = 200;
const random = seeded(10);
const vectors = Array.from({ length: ROWS }, () => Array.from({ length: DIMS }, () => random()));
const text = (v: number[]) => `[${v.join(',')}]`;

before(async () => {
  vg = await startVgCluster({ workers: 3, proxies: 2, env: { VECTORGATE_CLUSTER_READ_TIMEOUT_MS: '3000' } });
  a = await vg.client(0);
  b = await vg.client(1);
});
after(async () => {
  await a?.end().catch(() => undefined);
  await b?.end().catch(() => undefined);
  await vg?.stop();
});

async function nearest(client: pg.Client, i: number, consistency = 'eventual'): Promise<string> {
  const res = await client.query(`SELECT id FROM vector_search('docs', $1, 1, read_consistency => $2)`, [text(vectors[i]!), consistency]);
  return res.rows[0]?.id as string;
}

test('a replicated collection made and written through one proxy is searched through the other', async () => {
  const created = await a.query(`SELECT vector_create_collection('docs', ${DIMS}, shards => 2, replicas => 2) AS info`);
  assert.equal(created.rows[0].info.replicas, 2);
  for (let i = 0; i < ROWS; i += 50) {
    const batch = vectors.slice(i, i + 50).map((v, j) => ({ id: `d${i + j}`, vector: v, payload: { n: i + j } }));
    await a.query(`SELECT vector_upsert('docs', $1::jsonb)`, [JSON.stringify(batch)]);
  }
  assert.equal(await nearest(a, 7, 'session'), 'd7', 'the writing session reads its writes');
  assert.equal(await eventually('proxy B to see the rows', async () => (await nearest(b, 123)) === 'd123' || undefined), true);
  assert.equal(await nearest(b, 42, 'linearizable'), 'd42');
  const plan = (await b.query(`EXPLAIN ANALYZE SELECT * FROM vector_search('docs', $1, 3, read_consistency => 'linearizable')`, [text(vectors[3]!)]))
    .rows.map((r) => r['QUERY PLAN'] as string).join('\n');
  assert.match(plan, /Read consistency: linearizable \(from call argument\); a replica of each shard that applied everything/);
  assert.equal(plan.match(/-> Shard \d on replica [^ ]+ \(applied seq \d+\)/g)?.length, 2, plan);
  const listed = await b.query(`SELECT name, shards, replicas, vectors::int AS vectors FROM vector_collections()`);
  assert.deepEqual(listed.rows, [{ name: 'docs', shards: 2, replicas: 2, vectors: ROWS }]);
});

test('a COPY larger than one etcd transaction is written in batches under it, and every row arrives', async () => {
  const WIDE = 128;
  const ROWS_COPIED = 3000;
  await a.query(`SELECT vector_create_collection('wide', ${WIDE}, shards => 2, replicas => 2)`);
  const random = seeded(33);
  const lines = Array.from({ length: ROWS_COPIED }, (_, i) => `w${i}\t[${Array.from({ length: WIDE }, () => random().toFixed(4)).join(',')}]\t{"i":${i}}\n`);
  const notices: string[] = [];
  const onNotice = (n: { message?: string }) => notices.push(n.message ?? '');
  a.on('notice', onNotice);
  try {
    await pipeline(Readable.from(lines.map((l) => Buffer.from(l))), a.query(copyFrom('COPY wide (id, vector, payload) FROM STDIN')));
  } finally {
    a.off('notice', onNotice);
  }
  assert.ok(notices.some((m) => /COPY into collection "wide" exceeds \d+ rows or \d+ bytes/.test(m)), notices.join('\n'));
  const counted = await eventually('proxy B to count every copied row', async () => {
    const n = Number((await b.query(`SELECT vectors FROM vector_collections() WHERE name = 'wide'`)).rows[0]?.vectors);
    return n === ROWS_COPIED ? n : undefined;
  });
  assert.equal(counted, ROWS_COPIED);
  assert.equal((await b.query(`SELECT payload FROM vector_get('wide', 'w2999', read_consistency => 'linearizable')`)).rows[0]?.payload.i, 2999);
});

test('killing one worker leaves every search answering from the other replicas', async () => {
  await vg.cluster.workers[0]!.kill('SIGKILL');
  for (let i = 0; i < ROWS; i += 7) assert.equal(await nearest(b, i), `d${i}`);
  await a.query(`SELECT vector_upsert('docs', 'while-down', $1)`, [text(vectors[0]!.map((x) => x + 100))]);
  assert.equal((await a.query(`SELECT id FROM vector_get('docs', 'while-down', read_consistency => 'session')`)).rows[0]?.id, 'while-down');
  await vg.cluster.workers[0]!.start();
});

test('with every worker down a search fails naming the shard, and writes still succeed', async () => {
  await Promise.all(vg.cluster.workers.map((w) => w.kill('SIGKILL')));
  try {
    await assert.rejects(a.query(`SELECT * FROM vector_search('docs', $1, 1)`, [text(vectors[1]!)]),
      (err: { code?: string; message: string }) => err.code === '57P03' && /no replica of shard docs-[^ ]+\/\d answered within 3000 ms/.test(err.message));
    await a.query(`SELECT vector_upsert('docs', 'no-workers', $1)`, [text(vectors[2]!.map((x) => x - 100))]);
    assert.equal((await a.query('SELECT 1 AS one')).rows[0].one, 1, 'the session goes on');
  } finally {
    await Promise.all(vg.cluster.workers.map((w) => w.start()));
  }
  assert.equal(await eventually('the workers to serve again', async () =>
    (await a.query(`SELECT id FROM vector_get('docs', 'no-workers', read_consistency => 'session')`)).rows[0]?.id), 'no-workers');
});

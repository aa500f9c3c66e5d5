// Read consistency levels through the proxy in the embedded default: every level is accepted from
// each layer (call argument, SET LOCAL, SET, collection policy), a session reads its own writes at once
// at every level, bad levels and staleness bounds are 22023 and the session goes on; the session's write
// positions are remembered per collection, bounded, and a forgotten one reads at linearizable instead.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { SessionPositions } from '../../src/router/session-positions.ts';

let stack: Stack;
let client: pg.Client;

before(async () => {
  stack = await startStack();
  await stack.app.createCollection({ name: 'docs', dims: 2, metric: 'l2', shards: 3, owner: ROLES.scram.user });
  client = new pg.Client({ host: '127.0.0.1', port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
});
after(async () => {
  await client?.end();
  await stack?.stop();
});

async function sqlState(sql: string): Promise<string | undefined> {
  try { await client.query(sql); } catch (err) { return (err as { code?: string }).code; }
  return undefined;
}

test('a session reads its own writes at once at every level, named by the call argument', async () => {
  for (const [i, level] of ['eventual', 'session', 'bounded', 'linearizable'].entries()) {
    await client.query(`SELECT vector_upsert('docs', 'own-${i}', '[${i},1]', '{"level":"${level}"}')`);
    const hits = await client.query(`SELECT id, payload FROM vector_search('docs', '[${i},1]', 1, read_consistency => '${level}')`);
    assert.deepEqual(hits.rows, [{ id: `own-${i}`, payload: { level } }], level);
    const got = await client.query(`SELECT id FROM vector_get('docs', 'own-${i}', read_consistency => '${level}')`);
    assert.deepEqual(got.rows, [{ id: `own-${i}` }], level);
  }
});

test('the level comes from SET LOCAL, SET and the collection policy too, and a write then a read in one transaction sees it', async () => {
  await client.query(`SELECT vector_set_policy('docs', 'read_consistency', 'linearizable')`);
  try {
    await client.query(`SET vectorgate.read_consistency = 'bounded'`);
    await client.query('SET vectorgate.max_staleness_ms = 250');
    assert.deepEqual((await client.query('SHOW vectorgate.max_staleness_ms')).rows, [{ 'vectorgate.max_staleness_ms': '250' }]);
    await client.query('BEGIN');
    await client.query(`SET LOCAL vectorgate.read_consistency = 'session'`);
    await client.query(`SELECT vector_upsert('docs', 'in-tx', '[50,50]')`);
    const hits = await client.query(`SELECT id FROM vector_search('docs', '[50,50]', 1)`);
    await client.query('COMMIT');
    assert.deepEqual(hits.rows, [{ id: 'in-tx' }]);
    assert.deepEqual((await client.query(`SELECT id FROM vector_search('docs', '[50,50]', 1)`)).rows, [{ id: 'in-tx' }]);
  } finally {
    await client.query('RESET vectorgate.read_consistency');
    await client.query('RESET vectorgate.max_staleness_ms');
    await client.query(`SELECT vector_set_policy('docs', 'read_consistency', 'eventual')`);
  }
});

test('an unknown level or a negative staleness is 22023 from every layer, and the session goes on', async () => {
  assert.equal(await sqlState(`SELECT * FROM vector_search('docs', '[0,0]', 1, read_consistency => 'sometimes')`), '22023');
  assert.equal(await sqlState(`SELECT * FROM vector_get('docs', 'own-0', read_consistency => 'strong')`), '22023');
  assert.equal(await sqlState(`SET vectorgate.max_staleness_ms = -1`), '22023');
  assert.equal(await sqlState(`SELECT vector_set_policy('docs', 'max_staleness_ms', 'soon')`), '22023');
  assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
});

test('EXPLAIN names a level given as a call argument', async () => {
  const plan = (await client.query(`EXPLAIN SELECT * FROM vector_search('docs', '[0,0]', 1, read_consistency => 'session')`)).rows
    .map((r) => r['QUERY PLAN'] as string).join('\n');
  assert.match(plan, /Read consistency: session \(from call argument\)/);
});

test('session write positions keep the highest seq per shard, and a forgotten collection says so', () => {
  const positions = new SessionPositions(2);
  assert.deepEqual(positions.of('a'), { kind: 'none' });
  positions.note('a', { 0: 5, 1: 2 });
  positions.note('a', { 0: 3, 2: 9 });
  const a = positions.of('a');
  assert.equal(a.kind, 'positions');
  assert.deepEqual(a.kind === 'positions' ? [...a.positions] : [], [[0, 5], [1, 2], [2, 9]]);
  positions.note('b', { 0: 1 });
  positions.note('a', { 0: 6 });
  positions.note('c', { 0: 1 });
  assert.equal(positions.size, 2);
  assert.deepEqual(positions.of('b'), { kind: 'forgotten' }, 'b was the least recently written');
  assert.deepEqual(positions.of('never-written'), { kind: 'forgotten' }, 'after forgetting one, any unknown one may have been written');
  assert.equal(positions.of('a').kind, 'positions');
});

test('writes through a database view record their positions for the session, one entry per collection', async () => {
  const positions = new SessionPositions(10);
  const view = stack.collections.in(DATABASE, positions);
  await view.upsert('docs', [{ id: 'p1', vector: [1, 2], payload: null }]);
  const ack = await view.upsert('docs', [{ id: 'p2', vector: [2, 1], payload: null }, { id: 'p3', vector: [3, 1], payload: null }]);
  const del = await view.delete('docs', ['p1']);
  const entries = [...positions.entries()];
  assert.equal(entries.length, 1);
  const expected = new Map<number, number>();
  for (const write of [ack, del]) for (const [shard, seq] of Object.entries(write.positions)) expected.set(Number(shard), Math.max(expected.get(Number(shard)) ?? 0, seq));
  for (const [shard, seq] of expected) assert.ok(entries[0]![1].get(shard)! >= seq, `shard ${shard}`);
});

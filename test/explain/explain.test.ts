// EXPLAIN [ANALYZE] of vector searches: the vector part (shards, k, candidates, ef and its source,
// filter strategy and why, the read consistency that applied), times with ANALYZE, and for a composed
// statement PostgreSQL's own plan; EXPLAIN leaves no statement of the proxy's prepared upstream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { seeded } from '../helpers/random.ts';

let stack: Stack;
let client: pg.Client;
const ROWS = 3000;

before(async () => {
  stack = await startStack();
  const random = seeded(4);
  await stack.app.createCollection({ name: 'docs', dims: 8, metric: 'l2', shards: 2, owner: ROLES.scram.user });
  await stack.app.upsert('docs', Array.from({ length: ROWS }, (_, i) => ({
    id: `d${i}`, vector: Array.from({ length: 8 }, () => random()), payload: { lang: i % 100 === 0 ? 'fr' : 'en', n: i },
  })));
  client = new pg.Client({ host: '127.0.0.1', port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
  await client.query('CREATE TABLE documents (id text PRIMARY KEY, title text)');
  await client.query(`INSERT INTO documents SELECT 'd' || g, 'title ' || g FROM generate_series(0, ${ROWS - 1}) g`);
});
after(async () => {
  await client?.end();
  await stack?.stop();
});

const VECTOR = `'[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]'`;
async function plan(sql: string): Promise<string> {
  return (await client.query(sql)).rows.map((r) => r['QUERY PLAN'] as string).join('\n');
}

test('EXPLAIN of an unfiltered search: every shard, HNSW, ef from the server default; no times', async () => {
  const text = await plan(`EXPLAIN SELECT * FROM vector_search('docs', ${VECTOR}, 5)`);
  assert.match(text, /Vector Search on docs \(vectorgate\)\s+k=5 ef=\d+ \(from server default\) metric=l2/);
  assert.equal(text.match(/-> Shard \d: hnsw/g)?.length, 2);
  assert.doesNotMatch(text, /actual time/);
  assert.doesNotMatch(text, /PostgreSQL plan/, 'nothing of it runs upstream');
});

test('EXPLAIN ANALYZE of a selective filter: exact search over payload-index matches, with times', async () => {
  await client.query('SET vectorgate.ef_search = 48');
  const text = await plan(`EXPLAIN ANALYZE SELECT * FROM vector_search('docs', ${VECTOR}, 5, filter => '{"lang":"fr"}')`);
  await client.query('RESET vectorgate.ef_search');
  assert.match(text, /ef=48 \(from SET\)/);
  assert.match(text, /Filter: \{"lang":"fr"\}/);
  assert.equal(text.match(/exact over payload-index matches/g)?.length, 2);
  assert.match(text, /why: the payload index narrows the filter to \d+ rows/);
  assert.match(text, /Merge: top 5 of 10 rows\s+\(actual time=[\d.]+ ms\)/);
});

test('EXPLAIN reports the read consistency that applied, where it came from, and that it cost no wait', async () => {
  const consistency = async (call = '') => (await plan(`EXPLAIN SELECT * FROM vector_search('docs', ${VECTOR}, 5${call})`))
    .split('\n').filter((line) => /Read consistency|ef=/.test(line)).map((line) => line.trim());
  const NO_WAIT = 'met without waiting: each shard has one replica, which applied every acknowledged write before the ack';
  assert.deepEqual((await consistency())[1], `Read consistency: eventual (from server default); ${NO_WAIT}`);
  await client.query(`SELECT vector_set_policy('docs', 'read_consistency', 'bounded')`);
  try {
    assert.deepEqual((await consistency())[1], `Read consistency: bounded (from collection policy); ${NO_WAIT}`);
    await client.query(`SET vectorgate.read_consistency = 'session'`);
    assert.deepEqual((await consistency())[1], `Read consistency: session (from SET); ${NO_WAIT}`);
    await client.query('BEGIN');
    await client.query(`SET LOCAL vectorgate.read_consistency = 'linearizable'`);
    await client.query('SET LOCAL vectorgate.ef_search = 70');
    const lines = await consistency(', ef => 90');
    await client.query('COMMIT');
    assert.match(lines[0]!, /ef=90 \(from call argument\)/);
    assert.deepEqual(lines[1], `Read consistency: linearizable (from SET LOCAL); ${NO_WAIT}`);
    assert.match((await consistency())[0]!, /ef=\d+ \(from server default\)/, 'SET LOCAL ended with its transaction');
  } finally {
    await client.query('RESET vectorgate.read_consistency');
    await client.query(`SELECT vector_set_policy('docs', 'read_consistency', 'eventual')`);
  }
});

test('EXPLAIN ANALYZE of a composed statement adds PostgreSQL\'s plan of the rewritten statement', async () => {
  const text = await plan(`EXPLAIN (ANALYZE, COSTS OFF) SELECT d.title, s.distance FROM vector_search('docs', ${VECTOR}, 5, filter => '{"n":{"$gte":100}}') s JOIN documents d ON d.id = s.id ORDER BY s.distance`);
  assert.match(text, /-> Shard \d: (hnsw, widened|exact over a scan)/);
  assert.match(text, /PostgreSQL plan of the rewritten statement:\n\s+Sort/);
  assert.match(text, /Values Scan on "\*VALUES\*"/);
  assert.match(text, /Execution Time/);
});

/** A client of its own, so that pg_prepared_statements shows only what this session's EXPLAINs left. */
async function withClient(work: (c: pg.Client) => Promise<void>): Promise<void> {
  const c = new pg.Client({ host: '127.0.0.1', port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await c.connect();
  try {
    await work(c);
  } finally {
    await c.end();
  }
}

const composedExplain = (k: number) =>
  `EXPLAIN (COSTS OFF) SELECT d.title FROM vector_search('docs', ${VECTOR}, ${k}) s JOIN documents d ON d.id = s.id`;
const preparedUpstream = async (c: pg.Client) => Number((await c.query('SELECT count(*) AS n FROM pg_prepared_statements')).rows[0].n);

test('EXPLAINs of composed statements leave no statement of the proxy prepared upstream', async () => {
  await withClient(async (c) => {
    for (let k = 1; k <= 30; k++) assert.match((await c.query(composedExplain(k))).rows.at(-1)['QUERY PLAN'], /\S/);
    const limit = stack.collections.config.maxInternalStatementsPerSession;
    const prepared = await preparedUpstream(c);
    assert.ok(prepared <= 1, `${prepared} statements prepared upstream after 30 EXPLAINs (only the settings read-back may stay; limit ${limit})`);
  });
});

test('an EXPLAIN ANALYZE that fails upstream mid-way does not make a later one collide (42P05)', async () => {
  await withClient(async (c) => {
    await c.query(composedExplain(2));
    const failing = `EXPLAIN ANALYZE SELECT 1 / (s.distance * 0)::int FROM vector_search('docs', ${VECTOR}, 3) s`;
    await assert.rejects(c.query(failing), (err: { code?: string }) => err.code !== undefined);
    for (let k = 3; k <= 6; k++) {
      assert.match((await c.query(composedExplain(k))).rows.at(-1)['QUERY PLAN'], /\S/, `EXPLAIN ${k} after the failure`);
    }
    assert.ok(await preparedUpstream(c) <= 1, 'the failed one was closed too');
  });
});

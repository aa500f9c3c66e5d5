// vectorgate.* settings with PostgreSQL's semantics: SET undone by ROLLBACK, SET LOCAL ending with its
// transaction, RESET, SHOW, current_setting() agreeing upstream; the resolution order call argument >
// SET LOCAL > SET > collection policy > server default, with the source of each value; SET checked against
// the running config; rerank and query_text take effect without a NOTICE; statement timeout and cancel give 57014.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import type { SearchParams } from '../../src/router/collections.ts';

let stack: Stack;
let client: pg.Client;
const efSeen: (number | undefined)[] = [];
/** Milliseconds each search is held back; the tests of timeout and cancel raise it. */
let searchDelayMs = 0;

before(async () => {
  // Limits above the built-in ones: SET must be checked against the running config, not DEFAULTS.
  stack = await startStack({ config: { maxK: 20_000, maxEf: 30_000 } });
  await stack.app.createCollection({ name: 'docs', dims: 2, metric: 'l2', owner: ROLES.scram.user });
  await stack.app.upsert('docs', [{ id: 'a', vector: [1, 0] }, { id: 'b', vector: [0, 1] }]);
  // Seen from the engine: the ef each search ran with, and a delay standing in for a long search.
  const view = stack.collections.in.bind(stack.collections);
  stack.collections.in = (database) => {
    const collections = view(database);
    const search = collections.searchWithAccount.bind(collections);
    collections.searchWithAccount = async (name, query, k, params: SearchParams = {}) => {
      efSeen.push(params.ef);
      if (searchDelayMs > 0) await new Promise((r) => setTimeout(r, searchDelayMs));
      return search(name, query, k, params);
    };
    return collections;
  };
  client = new pg.Client({ host: '127.0.0.1', port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
});
after(async () => {
  await client?.end();
  await stack?.stop();
});

const show = async () => (await client.query('SHOW vectorgate.ef_search')).rows[0]['vectorgate.ef_search'] as string;
const upstreamValue = async () => (await client.query(`SELECT current_setting('vectorgate.ef_search', true) AS v`)).rows[0].v as string | null;
async function efOfNextSearch(sql = `SELECT id FROM vector_search('docs', '[1,0]', 1)`): Promise<number | undefined> {
  efSeen.length = 0;
  await client.query(sql);
  return efSeen[0];
}

test('SET, SHOW, RESET; the upstream agrees through current_setting', async () => {
  const fallback = String(stack.collections.config.defaultEfSearch);
  assert.equal(await show(), fallback);
  await client.query('SET vectorgate.ef_search = 40');
  assert.equal(await show(), '40');
  assert.equal(await upstreamValue(), '40');
  assert.equal(await efOfNextSearch(), 40);
  await client.query('RESET vectorgate.ef_search');
  assert.equal(await show(), fallback);
  assert.equal(await efOfNextSearch(), Number(fallback), 'no session value: the server default decides');
});

test('SET inside a rolled-back transaction is undone; SET LOCAL ends with its transaction', async () => {
  await client.query('SET vectorgate.ef_search = 50');
  await client.query('BEGIN');
  await client.query('SET vectorgate.ef_search = 60');
  assert.equal(await show(), '60');
  await client.query('ROLLBACK');
  assert.equal(await show(), '50', 'ROLLBACK undid the SET');
  await client.query('BEGIN');
  await client.query('SET LOCAL vectorgate.ef_search = 70');
  assert.equal(await efOfNextSearch(), 70);
  await client.query('COMMIT');
  assert.equal(await show(), '50', 'SET LOCAL ended with the transaction');
  assert.equal(await upstreamValue(), '50');
  await client.query('BEGIN; SET LOCAL vectorgate.ef_search = 80');
  assert.equal(await efOfNextSearch(`SELECT id FROM vector_search('docs', '[1,0]', 1, ef => 90)`), 90, 'a call argument beats SET LOCAL');
  assert.equal(await efOfNextSearch(), 80);
  await client.query('ROLLBACK');
  await client.query('RESET vectorgate.ef_search');
});

test('resolution order: argument > session > collection policy > default, as vector_policies shows', async () => {
  await client.query(`SELECT vector_set_policy('docs', 'ef_search', '120')`);
  const source = async () => (await client.query(`SELECT value, source FROM vector_policies('docs') WHERE name = 'ef_search'`)).rows[0];
  assert.deepEqual(await source(), { value: '120', source: 'collection' });
  await client.query('SET vectorgate.ef_search = 130');
  assert.deepEqual(await source(), { value: '130', source: 'session' });
  const listed = (await client.query(`SELECT name, setting, source FROM vector_settings() WHERE name = 'vectorgate.ef_search'`)).rows;
  assert.deepEqual(listed, [{ name: 'vectorgate.ef_search', setting: '130', source: 'session' }]);
  await client.query('RESET vectorgate.ef_search');
  assert.deepEqual(await source(), { value: '120', source: 'collection' });
});

test('unknown settings and bad values get PostgreSQL\'s SQLSTATEs, and the session goes on', async () => {
  for (const [sql, code] of [['SET vectorgate.nope = 1', '42704'], ['SHOW vectorgate.nope', '42704'], [`SET vectorgate.ef_search = 'lots'`, '22023'], ['SET vectorgate.read_consistency = sometimes', '22023'], ['SET LOCAL vectorgate.statement_timeout = -5', '22023']]) {
    await assert.rejects(client.query(sql!), (err: { code?: string }) => err.code === code, sql);
  }
  assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
});

test('vectorgate.statement_timeout and a CancelRequest end a running search with 57014', async () => {
  searchDelayMs = 3_000;
  try {
    await client.query('SET vectorgate.statement_timeout = 50');
    await assert.rejects(client.query(`SELECT * FROM vector_search('docs', '[1,0]', 1)`), (err: { code?: string; message: string }) =>
      err.code === '57014' && /statement timeout/.test(err.message));
    await client.query('RESET vectorgate.statement_timeout');
    const running = client.query(`SELECT * FROM vector_search('docs', '[1,0]', 1)`);
    await new Promise((r) => setTimeout(r, 200));
    const cancel = Buffer.alloc(16);
    cancel.writeInt32BE(16, 0);
    cancel.writeInt32BE(80877102, 4);
    const key = client as unknown as { processID: number; secretKey: number };
    cancel.writeInt32BE(key.processID, 8);
    cancel.writeInt32BE(key.secretKey, 12);
    const socket = connect(stack.proxyPort, '127.0.0.1', () => socket.end(cancel));
    await assert.rejects(running, (err: { code?: string }) => err.code === '57014');
  } finally {
    searchDelayMs = 0;
  }
  assert.deepEqual((await client.query(`SELECT id FROM vector_search('docs', '[1,0]', 1)`)).rows, [{ id: 'a' }]);
});

test('every policy resolves the same way: max_k and statement_timeout from the collection, overridden per session', async () => {
  await client.query(`SELECT vector_set_policy('docs', 'max_k', '3')`);
  await assert.rejects(client.query(`SELECT * FROM vector_search('docs', '[1,0]', 5)`), (err: { code?: string }) => err.code === '54000');
  await client.query('BEGIN');
  await client.query('SET LOCAL vectorgate.max_k = 10');
  assert.equal((await client.query(`SELECT * FROM vector_search('docs', '[1,0]', 5)`)).rowCount, 2, 'SET LOCAL beats the collection policy');
  await client.query('COMMIT');
  await assert.rejects(client.query(`SELECT * FROM vector_search('docs', '[1,0]', 5)`), (err: { code?: string }) => err.code === '54000', 'and ends with the transaction');
  const sources = (await client.query(`SELECT name, value, source FROM vector_policies('docs') WHERE name IN ('max_k', 'statement_timeout') ORDER BY name`)).rows;
  assert.deepEqual(sources, [{ name: 'max_k', value: '3', source: 'collection' }, { name: 'statement_timeout', value: '0', source: 'default' }]);
  await client.query(`SELECT vector_set_policy('docs', 'max_k', '100')`);

  searchDelayMs = 3_000;
  try {
    await client.query(`SELECT vector_set_policy('docs', 'statement_timeout', '50')`);
    await assert.rejects(client.query(`SELECT * FROM vector_search('docs', '[1,0]', 1)`), (err: { code?: string; message: string }) =>
      err.code === '57014' && /statement timeout/.test(err.message));
  } finally {
    searchDelayMs = 0;
    await client.query(`SELECT vector_set_policy('docs', 'statement_timeout', '0')`);
  }
});

test('SET is checked against the running config: limits raised at start are allowed, values past them are 22023', async () => {
  await client.query('SET vectorgate.max_k = 15000');
  await client.query('SET vectorgate.ef_search = 25000');
  assert.equal((await client.query('SHOW vectorgate.max_k')).rows[0]['vectorgate.max_k'], '15000');
  assert.equal(await efOfNextSearch(), 25_000);
  await assert.rejects(client.query('SET vectorgate.max_k = 20001'), (err: { code?: string; detail?: string }) =>
    err.code === '22023' && /from 1 to 20000/.test(err.detail ?? ''));
  // The same in the extended protocol (Parse/Bind/Execute): values [] makes node-pg prepare it.
  await client.query({ text: 'SET vectorgate.max_k = 16000', values: [] });
  assert.equal((await client.query('SHOW vectorgate.max_k')).rows[0]['vectorgate.max_k'], '16000');
  await assert.rejects(client.query({ text: 'SET vectorgate.max_k = 20001', values: [] }), (err: { code?: string }) => err.code === '22023');
  await client.query('RESET vectorgate.max_k');
  await client.query('RESET vectorgate.ef_search');
});

test('each value says where it comes from: SET LOCAL (transaction), SET (session), default', async () => {
  const source = async (name: string) => (await client.query(`SELECT value, source FROM vector_policies('docs') WHERE name = $1`, [name])).rows[0];
  const setting = async (name: string) => (await client.query(`SELECT setting, source FROM vector_settings() WHERE name = $1`, [`vectorgate.${name}`])).rows[0];
  await client.query('SET vectorgate.ef_search = 31');
  await client.query('BEGIN');
  await client.query('SET LOCAL vectorgate.ef_search = 32');
  assert.deepEqual(await source('ef_search'), { value: '32', source: 'transaction' });
  assert.deepEqual(await setting('ef_search'), { setting: '32', source: 'transaction' });
  await client.query('SET vectorgate.ef_search = 33');
  assert.deepEqual(await source('ef_search'), { value: '33', source: 'session' }, 'a SET after SET LOCAL outlives the transaction');
  await client.query('SET LOCAL vectorgate.ef_search = 34');
  await client.query('COMMIT');
  assert.deepEqual(await source('ef_search'), { value: '33', source: 'session' });
  await client.query('RESET vectorgate.ef_search');
  assert.deepEqual(await source('read_consistency'), { value: 'eventual', source: 'default' });
});

/** The NOTICEs the proxy sent while `sql` ran. */
async function noticesOf(sql: string | pg.QueryConfig): Promise<string[]> {
  const seen: string[] = [];
  const onNotice = (notice: { message?: string }) => seen.push(notice.message ?? '');
  client.on('notice', onNotice);
  try {
    await client.query(sql);
  } finally {
    client.off('notice', onNotice);
  }
  return seen;
}

test('rerank and query_text take effect: no NOTICE for them; rerank_notice tells of a fallback only', async () => {
  assert.deepEqual(await noticesOf(`SELECT * FROM vector_search('docs', '[1,0]', 1)`), [], 'nothing asked for, nothing said');
  assert.deepEqual(await noticesOf('SET vectorgate.rerank = on'), []);
  assert.deepEqual(await noticesOf(`SELECT * FROM vector_search('docs', '[1,0]', 1, query_text => 'rust async')`), [], 'bm25 reranked: nothing to say');
  await client.query('SET vectorgate.rerank_notice = on');
  assert.deepEqual(await noticesOf(`SELECT * FROM vector_search('docs', '[1,0]', 1, query_text => 'rust async')`), [], 'no fallback, no NOTICE');
  await client.query('RESET vectorgate.rerank_notice');
  await client.query('RESET vectorgate.rerank');
});

test('vector_settings() and vector_policies() say every policy takes effect', async () => {
  const settings = (await client.query('SELECT name, effective FROM vector_settings() ORDER BY name')).rows;
  const policies = (await client.query(`SELECT name, effective FROM vector_policies('docs') ORDER BY name`)).rows;
  for (const rows of [settings.map((r) => ({ ...r, name: String(r.name).replace('vectorgate.', '') })), policies]) {
    const effect = Object.fromEntries(rows.map((r) => [r.name, r.effective as string]));
    assert.equal(effect.ef_search, 'yes');
    assert.equal(effect.max_k, 'yes');
    assert.equal(effect.statement_timeout, 'yes');
    assert.equal(effect.rerank, 'yes');
    assert.equal(effect.search_cache, 'yes');
    assert.equal(effect.read_consistency, 'yes');
    assert.equal(effect.max_staleness_ms, 'yes');
  }
});

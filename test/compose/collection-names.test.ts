// Collection names follow PostgreSQL's rules for a plain table name: keywords that cannot be one
// (pg_get_keywords() catcode 'R' and 'T': select, table, join, …) are 42602, a `pg_` prefix is 42939 as
// for PostgreSQL's own reserved names, and the names that were valid before still work — including
// unreserved and column-name keywords, which PostgreSQL accepts as table names too. Through node-pg,
// with the keyword lists read from the running PostgreSQL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { DATABASE, ROLES } from '../helpers/cluster.ts';
import { seeded, randomInt } from '../helpers/random.ts';

let stack: Stack;
let client: pg.Client;
const random = seeded(4242);
const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

before(async () => {
  stack = await startStack();
  client = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
});

after(async () => {
  await client?.end();
  await stack?.stop();
});

async function create(name: string): Promise<{ code: string; message: string }> {
  try {
    await client.query('SELECT vector_create_collection($1, 2)', [name]);
    return { code: 'ok', message: '' };
  } catch (err) {
    const { code, message } = err as { code: string; message: string };
    return { code, message };
  }
}

async function collectionNames(): Promise<string[]> {
  return (await client.query('SELECT name FROM vector_collections()')).rows.map((r: { name: string }) => r.name).sort(byCodePoint);
}

async function keywords(catcodes: string[]): Promise<string[]> {
  const rows = (await client.query('SELECT word FROM pg_get_keywords() WHERE catcode = ANY($1) ORDER BY word', [catcodes])).rows;
  return rows.map((r: { word: string }) => r.word);
}

/** Whether PostgreSQL takes `name` as a plain (unquoted) table name. */
async function postgresTakesAsTable(name: string): Promise<boolean> {
  await client.query('BEGIN');
  try {
    await client.query(`CREATE TABLE ${name} (x int)`);
    return true;
  } catch {
    return false;
  } finally {
    await client.query('ROLLBACK');
  }
}

test('keywords that cannot be a table name are 42602, in any case, and leave no collection', async () => {
  const reserved = await keywords(['R', 'T']);
  assert.ok(reserved.includes('select') && reserved.includes('table') && reserved.includes('join'));
  for (const word of reserved) {
    const refused = await create(word);
    assert.equal(refused.code, '42602', word);
    assert.equal(refused.message, `collection name "${word}" is a reserved word`);
  }
  assert.equal((await create('SELECT')).code, '42602');
  assert.equal((await create('Table')).code, '42602');
  assert.equal(await postgresTakesAsTable('select'), false, 'PostgreSQL refuses it as a table name too');
  assert.deepEqual(await collectionNames(), []);
});

test('a pg_ prefix is 42939', async () => {
  for (const name of ['pg_catalog', 'pg_toast', 'pg_x', 'PG_Stats']) {
    const refused = await create(name);
    assert.equal(refused.code, '42939', name);
    assert.equal(refused.message, `unacceptable collection name "${name}"`);
  }
  assert.deepEqual(await collectionNames(), []);
});

test('valid names keep working, among them keywords PostgreSQL takes as table names', async () => {
  const allowedKeywords = await keywords(['U', 'C']);
  const sample = Array.from({ length: 8 }, () => allowedKeywords[randomInt(random, allowedKeywords.length)]!);
  const names = [...new Set(['docs', 'Docs', '_x', 'items_2', 'selected', 'user_data', 'pgvector', 'between', ...sample])];
  for (const name of names) {
    assert.equal((await create(name)).code, 'ok', name);
    if (name === name.toLowerCase()) assert.equal(await postgresTakesAsTable(name), true, `PostgreSQL takes ${name} as a table name`);
  }
  assert.deepEqual(await collectionNames(), [...names].sort(byCodePoint));
  // Invalid characters are refused as before.
  assert.equal((await create('bad name')).code, '22023');
  assert.equal((await create('1st')).code, '22023');
});

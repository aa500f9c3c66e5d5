// NUL in ids and payload text is refused as PostgreSQL refuses it in text and jsonb: 22021 for an id
// (in vector_upsert, a JSON batch, COPY, vector_get and vector_delete), 22021 for a raw 0x00 in a
// payload, 22P05 for a `\u0000` escape in a payload's keys or strings. A stored NUL id broke every
// composed statement that returned it, in every session (08P01): after the refusals, composed
// statements over the collection still work, from this session and a new one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startStack, type Stack } from '../helpers/stack.ts';
import { DATABASE, ROLES } from '../helpers/cluster.ts';

let stack: Stack;
let client: pg.Client;

const config = () => ({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });

before(async () => {
  stack = await startStack();
  await stack.app.createCollection({ name: 'nul', dims: 2, metric: 'l2', shards: 2, owner: ROLES.scram.user });
  await stack.app.upsert('nul', [{ id: 'kept', vector: [0, 0], payload: { a: 'b' } }]);
  const admin = await stack.cluster.admin(DATABASE);
  try {
    await admin.query('CREATE TABLE tags (id text PRIMARY KEY, tag text)');
    await admin.query(`ALTER TABLE tags OWNER TO ${ROLES.scram.user}`);
    await admin.query("INSERT INTO tags VALUES ('kept', 'k')");
  } finally {
    await admin.end();
  }
  client = new pg.Client(config());
  await client.connect();
});

after(async () => {
  await client?.end();
  await stack?.stop();
});

async function sqlState(run: Promise<unknown>): Promise<string> {
  try {
    await run;
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'no error';
}

const COMPOSED = `SELECT s.id, t.tag, s.payload FROM vector_search('nul', '[0,0]', 10) AS s LEFT JOIN tags t USING (id) ORDER BY s.id`;

async function assertCollectionUsable(c: pg.Client): Promise<void> {
  assert.deepEqual((await c.query(COMPOSED)).rows, [{ id: 'kept', tag: 'k', payload: { a: 'b' } }]);
  assert.deepEqual((await c.query(`SELECT g.id, t.tag FROM vector_get('nul', 'kept') AS g JOIN tags t USING (id)`)).rows, [{ id: 'kept', tag: 'k' }]);
}

test('an id with NUL is 22021 in vector_upsert (parameter and JSON batch), vector_get and vector_delete', async () => {
  assert.equal(await sqlState(client.query("SELECT vector_upsert('nul', $1, '[1,1]')", ['a\u0000b'])), '22021');
  assert.equal(await sqlState(client.query(`SELECT vector_upsert('nul', '[{"id":"a\\u0000b","vector":[1,1]}]'::jsonb)`)), '22021');
  assert.equal(await sqlState(client.query("SELECT vector_upsert('nul', $1::jsonb)", [JSON.stringify([{ id: 'ok', vector: [1, 1] }, { id: '\u0000', vector: [2, 2] }])])), '22021');
  assert.equal(await sqlState(client.query("SELECT * FROM vector_get('nul', $1)", ['kept\u0000'])), '22021');
  assert.equal(await sqlState(client.query("SELECT vector_delete('nul', $1)", ['kept\u0000'])), '22021');
  // PostgreSQL says the same for NUL in text.
  assert.equal(await sqlState(client.query('SELECT $1::text', ['a\u0000b'])), '22021');
  await assertCollectionUsable(client);
});

test('a payload with NUL: 22021 for a raw 0x00, 22P05 for \\u0000 in a key or a string, as jsonb says', async () => {
  const raw = '{"a":"x\u0000y"}';
  const escapedValue = '{"a":"x\\u0000y"}';
  const escapedKey = '{"k\\u0000":1}';
  for (const [payload, expected] of [[raw, '22021'], [escapedValue, '22P05'], [escapedKey, '22P05']] as const) {
    assert.equal(await sqlState(client.query("SELECT vector_upsert('nul', 'p', '[1,1]', $1)", [payload])), expected, payload);
    assert.equal(await sqlState(client.query('SELECT $1::jsonb', [payload])), expected, `PostgreSQL itself for ${payload}`);
  }
  const batch = `[{"id":"p","vector":[1,1],"payload":{"nested":["ok","\\u0000"]}}]`;
  assert.equal(await sqlState(client.query('SELECT vector_upsert($1, $2::jsonb)', ['nul', batch])), '22P05');
  // An escaped backslash before u0000 is no NUL: stored and returned as written.
  await client.query("SELECT vector_upsert('nul', 'slash', '[5,5]', $1)", ['{"a":"\\\\u0000"}']);
  assert.deepEqual((await client.query(`SELECT payload FROM vector_get('nul', 'slash')`)).rows, [{ payload: { a: '\\u0000' } }]);
  await client.query("SELECT vector_delete('nul', 'slash')");
  await assertCollectionUsable(client);
});

test('COPY of a row whose id or payload holds NUL keeps nothing and says 22021', async () => {
  const copy = (data: string) => pipeline(Readable.from([Buffer.from(data)]), client.query(copyFrom('COPY nul (id, vector, payload) FROM STDIN')));
  assert.equal(await sqlState(copy('good\t[1,1]\t{}\nbad\\000id\t[2,2]\t{}\n')), '22021');
  assert.equal(await sqlState(copy('good\t[1,1]\t{"a":"\\000"}\n')), '22021');
  assert.equal((await client.query(`SELECT count(*)::int AS n FROM vector_get('nul', 'good')`)).rows[0].n, 0);
  await assertCollectionUsable(client);
  const other = new pg.Client(config());
  await other.connect();
  try {
    await assertCollectionUsable(other);
  } finally {
    await other.end();
  }
});

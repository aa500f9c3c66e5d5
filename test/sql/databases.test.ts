// Collections belong to the database they were made in: the same name in two databases is two
// collections with separate data, each database's sessions list and reach only their own, and
// `COPY docs` is the collection's only where this session's database has one: a table docs in another
// database, or a relation of a schema other than vectorgate, gets the COPY from PostgreSQL.
// alice is a superuser, so privileges stay out of the way here.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startStack, type Stack } from '../helpers/stack.ts';
import { DATABASE, ROLES } from '../helpers/cluster.ts';
import { rejection } from '../clients/pg-connect.ts';

const SHOP = 'shop';
/** A database with an ordinary table docs and no collections. */
const PLAIN = 'plain';
let stack: Stack;
const clients: pg.Client[] = [];

async function connect(database: string): Promise<pg.Client> {
  const client = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database });
  clients.push(client);
  await client.connect();
  return client;
}

async function copyIn(client: pg.Client, sql: string, text: string): Promise<void> {
  await pipeline(Readable.from([Buffer.from(text)]), client.query(copyFrom(sql)));
}

let app: pg.Client;
let shop: pg.Client;
let plain: pg.Client;

before(async () => {
  stack = await startStack();
  const admin = await stack.cluster.admin();
  try {
    for (const db of [SHOP, PLAIN]) await admin.query(`CREATE DATABASE ${db} OWNER ${ROLES.scram.user}`);
  } finally {
    await admin.end();
  }
  app = await connect(DATABASE);
  shop = await connect(SHOP);
  plain = await connect(PLAIN);
  await plain.query('CREATE TABLE docs (id text, vector text, payload text)');
});

after(async () => {
  await Promise.allSettled(clients.map((c) => c.end()));
  await stack?.stop();
});

const ids = async (client: pg.Client, sql: string) => (await client.query<{ id: string }>(sql)).rows.map((r) => r.id);

test('the same name in two databases: separate data, each lists only its own, COPY goes to this database\'s', async () => {
  await app.query(`SELECT vector_create_collection('docs', 2)`);
  await shop.query(`SELECT vector_create_collection('docs', 3, shards => 2)`);
  await shop.query(`SELECT vector_create_collection('items', 3)`);

  await copyIn(app, 'COPY docs (id, vector, payload) FROM STDIN', 'a\t[1,0]\t{"db":"app"}\nb\t[0,1]\t\\N\n');
  await copyIn(shop, 'COPY docs (id, vector, payload) FROM STDIN', 'a\t[0,0,1]\t{"db":"shop"}\n');
  await copyIn(shop, 'COPY vectorgate.docs (id, vector) FROM STDIN (FORMAT csv)', 'c,"[1,1,1]"\n');

  assert.deepEqual((await app.query(`SELECT name, dimensions, vectors FROM vector_collections()`)).rows, [{ name: 'docs', dimensions: 2, vectors: '2' }]);
  assert.deepEqual((await shop.query(`SELECT name, dimensions, vectors FROM vector_collections()`)).rows,
    [{ name: 'docs', dimensions: 3, vectors: '2' }, { name: 'items', dimensions: 3, vectors: '0' }]);
  assert.deepEqual((await plain.query(`SELECT name FROM vector_collections()`)).rows, []);
  assert.deepEqual((await app.query(`SELECT payload FROM vector_get('docs', 'a')`)).rows, [{ payload: { db: 'app' } }]);
  assert.deepEqual((await shop.query(`SELECT payload FROM vector_get('docs', 'a')`)).rows, [{ payload: { db: 'shop' } }]);
  assert.deepEqual(await ids(app, `SELECT id FROM vector_search('docs', '[1,0]', 10)`), ['a', 'b']);
  assert.deepEqual(await ids(shop, `SELECT id FROM vector_search('docs', '[1,1,1]', 10)`), ['c', 'a']);
});

test('another database\'s collection does not exist here: 42P01, and the session goes on', async () => {
  const error = await rejection(app.query(`SELECT * FROM vector_search('items', '[1,1,1]', 1)`));
  assert.equal(error.code, '42P01');
  assert.equal(error.message, 'collection "items" does not exist');
  assert.equal((await rejection(plain.query(`SELECT vector_upsert('docs', 'x', '[1,0]')`))).code, '42P01');
  assert.equal((await rejection(plain.query(`SELECT vector_drop_collection('docs')`))).code, '42P01');
  assert.equal((await app.query('SELECT 1 AS alive')).rows[0].alive, 1);
});

test('COPY into a table of the same name in a database without the collection goes to PostgreSQL', async () => {
  await copyIn(plain, 'COPY docs (id, vector, payload) FROM STDIN', 'p\tnot a vector\tnot json\n');
  assert.deepEqual((await plain.query('SELECT id, vector, payload FROM docs')).rows, [{ id: 'p', vector: 'not a vector', payload: 'not json' }]);
  assert.deepEqual(await ids(app, `SELECT id FROM vector_search('docs', '[1,0]', 10)`), ['a', 'b'], 'no collection got the row');
});

test('COPY into a schema other than vectorgate passes through, even where a collection of that name exists', async () => {
  const error = await rejection(copyIn(app, 'COPY public.docs (id, vector) FROM STDIN', 'z\t[1,0]\n'));
  assert.equal(error.code, '42P01');
  assert.equal(error.message, 'relation "public.docs" does not exist', 'PostgreSQL answered');
  assert.deepEqual(await ids(app, `SELECT id FROM vector_search('docs', '[1,0]', 10)`), ['a', 'b']);
});

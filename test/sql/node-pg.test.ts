// The vector SQL surface through node-postgres (simple and parameterized queries, text parameters) and
// a raw protocol client (Describe's parameter types, binary real[]/float8[] parameters), against a real
// PostgreSQL behind the proxy. Every bad input gets its SQLSTATE and the session goes on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { WireClient, serialize, summary } from '../helpers/wire-client.ts';
import { rejection } from '../clients/pg-connect.ts';
import { arraySend } from './sql-helpers.ts';
import type { SearchParams } from '../../src/router/collections.ts';

let stack: Stack;
let client: pg.Client;
/** ef of every search the proxy ran, seen by wrapping the in-process Collections. */
const efSeen: (number | undefined)[] = [];

before(async () => {
  stack = await startStack({ config: { maxBatchRows: 50, copyBatchRows: 20, maxPayloadBytes: 256, maxK: 100 } });
  const view = stack.collections.in.bind(stack.collections);
  stack.collections.in = (database) => {
    const collections = view(database);
    const search = collections.searchWithAccount.bind(collections);
    collections.searchWithAccount = (name, query, k, params: SearchParams = {}) => {
      efSeen.push(params.ef);
      return search(name, query, k, params);
    };
    return collections;
  };
  client = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
  await client.query(`SELECT vector_create_collection('items', 3, metric => 'l2', shards => 3)`);
  // The raw-protocol test connects as the trust role, which is no superuser: it needs the grants.
  await client.query(`GRANT SELECT, INSERT, UPDATE ON vectorgate.items TO ${ROLES.trust.user}`);
});
after(async () => {
  await client?.end();
  await stack?.stop();
});

test('node-pg: create returns the spec as jsonb; vector_collections lists it with types', async () => {
  const created = await client.query(`SELECT vector_create_collection('cos', 2, metric => 'cosine', engine => 'hnswlib', m => 8, ef_construction => 50) AS spec`);
  assert.deepEqual(created.rows[0].spec, { name: 'cos', dimensions: 2, metric: 'cosine', shards: 1, replicas: 1, quantization: 'none', m: 8, ef_construction: 50, engine: 'hnswlib' });
  assert.equal(created.fields[0]!.dataTypeID, 3802);
  const list = await client.query(`SELECT name, dimensions, metric, shards, engine, vectors FROM vector_collections()`);
  assert.deepEqual(list.rows, [
    { name: 'cos', dimensions: 2, metric: 'cosine', shards: 1, engine: 'hnswlib', vectors: '0' },
    { name: 'items', dimensions: 3, metric: 'l2', shards: 3, engine: 'usearch', vectors: '0' },
  ]);
  assert.deepEqual(list.fields.map((f) => f.dataTypeID), [25, 23, 25, 23, 25, 20]);
  assert.deepEqual((await client.query(`SELECT vector_drop_collection('cos')`)).rows, [{ vector_drop_collection: true }]);
});

test('node-pg: upsert (simple, text parameters, jsonb batch), get and search return typed rows', async () => {
  assert.deepEqual((await client.query(`SELECT vector_upsert('items', 'a', '[1,0,0]', '{"color":"red"}')`)).rows, [{ vector_upsert: '1' }]);
  // node-postgres sends a JS array as array text with quoted elements, an object as JSON text.
  await client.query('SELECT vector_upsert($1, $2, $3, $4)', ['items', 'b', [0, 1, 0], { color: 'blue' }]);
  await client.query('SELECT vector_upsert($1, $2, $3, $4)', ['items', 'c', '[0,0,1]', null]);
  const batch = [{ id: 'd', vector: [1, 1, 0], payload: { color: 'red' } }, { id: 7, vector: '[2,2,2]' }];
  assert.deepEqual((await client.query('SELECT vector_upsert($1, $2) AS n', ['items', JSON.stringify(batch)])).rows, [{ n: '2' }]);
  const got = await client.query(`SELECT * FROM vector_get('items', 'b')`);
  assert.deepEqual(got.rows, [{ id: 'b', vector: [0, 1, 0], payload: { color: 'blue' } }]);
  assert.deepEqual(got.fields.map((f) => f.dataTypeID), [25, 1021, 3802]);
  assert.deepEqual((await client.query(`SELECT * FROM vector_get('items', 'nope')`)).rows, []);
  const hits = await client.query(`SELECT * FROM vector_search('items', '[1,0,0]', 3)`);
  assert.deepEqual(hits.rows.map((r) => r.id), ['a', 'd', 'b']);
  assert.deepEqual(hits.rows.map((r) => r.distance), [0, 1, 1.4142135]);
  assert.deepEqual(hits.fields.map((f) => [f.name, f.dataTypeID]), [['id', 25], ['distance', 700], ['payload', 3802]]);
  assert.equal(hits.command, 'SELECT');
  assert.equal(hits.rowCount, 3);
});

test('node-pg: search with named arguments, parameters, filter, column list and aliases', async () => {
  const named = await client.query(`SELECT s.id AS who, distance FROM vector_search('items', '{1,0,0}', k => 5, filter => '{"color":"red"}'::jsonb, ef => 16) AS s`);
  assert.deepEqual(named.rows, [{ who: 'a', distance: 0 }, { who: 'd', distance: 1 }]);
  const params = await client.query('SELECT * FROM vector_search($1, $2, k => $3, filter => $4) AS t (ident, dist)', ['items', [0, 0, 1], 2, { color: 'blue' }]);
  assert.deepEqual(params.rows, [{ ident: 'b', dist: 1.4142135, payload: { color: 'blue' } }]);
  const defaultK = await client.query(`SELECT id FROM vector_search('items', ARRAY[0,0,1]::real[])`);
  assert.equal(defaultK.rowCount, 5);
  const withText = await client.query(`SELECT id FROM vector_search('items', '[0,0,1]', 1, query_text => 'anything')`);
  assert.deepEqual(withText.rows, [{ id: 'c' }]);
});

test('node-pg: delete returns the rows deleted; a prepared statement re-executes with new parameters', async () => {
  await client.query('SELECT vector_upsert($1, $2, $3)', ['items', 'tmp', '[5,5,5]']);
  const del = { name: 'del', text: 'SELECT vector_delete($1, $2)' };
  assert.deepEqual((await client.query({ ...del, values: ['items', 'tmp'] })).rows, [{ vector_delete: '1' }]);
  assert.deepEqual((await client.query({ ...del, values: ['items', 'tmp'] })).rows, [{ vector_delete: '0' }]);
  const search = { name: 'near', text: 'SELECT id FROM vector_search($1, $2, $3)' };
  assert.deepEqual((await client.query({ ...search, values: ['items', '[0,1,0]', 1] })).rows, [{ id: 'b' }]);
  assert.deepEqual((await client.query({ ...search, values: ['items', '[0,0,1]', 1] })).rows, [{ id: 'c' }]);
});

test('node-pg: policies — set returns the stored value; vector_policies says where each value comes from', async () => {
  assert.deepEqual((await client.query(`SELECT vector_set_policy('items', 'ef_search', '80')`)).rows, [{ vector_set_policy: '80' }]);
  const rows = (await client.query(`SELECT * FROM vector_policies('items')`)).rows;
  assert.deepEqual(rows.find((r) => r.name === 'ef_search'), { name: 'ef_search', value: '80', source: 'collection', effective: 'yes' });
  await client.query(`SELECT vector_set_policy('items', 'ef_search', '64')`);
});

test('node-pg: SET/SHOW/RESET vectorgate.ef_search, used by searches without ef =>', async () => {
  assert.equal((await client.query('SHOW vectorgate.ef_search')).rows[0]['vectorgate.ef_search'], '64');
  const set = await client.query('SET vectorgate.ef_search = 33');
  assert.equal(set.command, 'SET');
  assert.deepEqual((await client.query('SHOW vectorgate.ef_search')).rows, [{ 'vectorgate.ef_search': '33' }]);
  efSeen.length = 0;
  await client.query(`SELECT * FROM vector_search('items', '[1,1,1]', 2)`);
  await client.query(`SELECT * FROM vector_search('items', '[1,1,1]', 2, ef => 12)`);
  assert.deepEqual(efSeen, [33, 12]);
  const policies = (await client.query(`SELECT * FROM vector_policies('items')`)).rows;
  assert.deepEqual(policies.find((r) => r.name === 'ef_search'), { name: 'ef_search', value: '33', source: 'session', effective: 'yes' });
  assert.equal((await client.query('RESET vectorgate.ef_search')).command, 'RESET');
  await client.query(`SET vectorgate.ef_search TO '40'`);
  await client.query('SET vectorgate.ef_search TO DEFAULT');
  efSeen.length = 0;
  await client.query(`SELECT * FROM vector_search('items', '[1,1,1]', 2)`);
  assert.deepEqual(efSeen, [64], 'no session value: the collection policy of 64 decides');
});

const BAD: [string, string, unknown[]?][] = [
  ['22P02', `SELECT * FROM vector_search('items', '[1,x,3]', 3)`],
  ['22P02', `SELECT * FROM vector_search('items', $1, 3)`, ['1,2,3']],
  ['22000', `SELECT * FROM vector_search('items', '[1,NaN,3]', 3)`],
  ['22000', `SELECT vector_upsert('items', 'z', '[1,Infinity,3]')`],
  ['22000', `SELECT vector_upsert('items', 'z', '[1,2]')`],
  ['22000', `SELECT * FROM vector_search('items', $1, 3)`, [[1, 2, 3, 4]]],
  ['42P01', `SELECT * FROM vector_search('missing', '[1,2,3]', 3)`],
  ['42P01', `SELECT vector_drop_collection('missing')`],
  ['42710', `SELECT vector_create_collection('items', 3)`],
  ['54000', `SELECT * FROM vector_search('items', '[1,2,3]', 101)`],
  ['54000', `SELECT vector_upsert('items', $1)`, [JSON.stringify(Array.from({ length: 51 }, (_, i) => ({ id: `x${i}`, vector: [1, 2, 3] })))]],
  ['54000', `SELECT vector_upsert('items', 'p', '[1,2,3]', $1)`, [{ big: 'x'.repeat(300) }]],
  ['22023', `SELECT vector_set_policy('items', 'colour', 'red')`],
  ['22023', `SELECT vector_set_policy('items', 'ef_search', 'lots')`],
  ['22023', `SELECT vector_create_collection('bad', 3, metric => 'manhattan')`],
  ['22023', `SELECT * FROM vector_search('items', '[1,2,3]', 3, filter => '{"$regex":"x"}')`],
  ['42704', 'SET vectorgate.colour = 1'],
  ['42704', 'SHOW vectorgate.colour'],
  ['22023', `SET vectorgate.ef_search = 'many'`],
  ['22023', 'SET vectorgate.ef_search = 0'],
  ['0A000', `SELECT * FROM vector_search('items', (SELECT '[1,2,3]'), 3)`],
  ['0A000', `SELECT vector_search('items', '[1,2,3]', 3)`],
  ['42883', `SELECT vector_delete('items')`],
  ['22004', `SELECT * FROM vector_search('items', NULL, 3)`],
];

test('node-pg: every bad input gets its SQLSTATE and the session goes on', async () => {
  for (const [code, sql, values] of BAD) {
    const err = await rejection(client.query(sql, values));
    assert.equal(err.code, code, `${sql}: ${err.message}`);
    assert.deepEqual((await client.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  }
  assert.deepEqual((await client.query(`SELECT id FROM vector_get('items', 'z')`)).rows, [], 'failed upserts wrote nothing');
});

test('node-pg: an error in a transaction block aborts it (25P02) until ROLLBACK', async () => {
  await client.query('BEGIN');
  assert.equal((await rejection(client.query(`SELECT * FROM vector_search('missing', '[1,2,3]', 3)`))).code, '42P01');
  assert.equal((await rejection(client.query(`SELECT * FROM vector_search('items', '[1,2,3]', 3)`))).code, '25P02');
  await client.query('ROLLBACK');
  assert.equal((await client.query(`SELECT * FROM vector_search('items', '[1,2,3]', 1)`)).rowCount, 1);
});

test('wire: Describe reports parameter and row types; binary real[] and float8[] parameters work', async () => {
  const raw = await WireClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE);
  try {
    raw.send(serialize.parse({ name: 's1', text: 'SELECT * FROM vector_search($1, $2, k => $3, filter => $4)', types: [] }),
      serialize.describe({ type: 'S', name: 's1' }), serialize.sync());
    assert.deepEqual(summary(await raw.readUntilReady()), ['parseComplete', 't:25,1021,23,3802', 'T:id/25,distance/700,payload/3802', 'Z:I']);
    for (const type of ['float4', 'float8'] as const) {
      const k = Buffer.alloc(4);
      k.writeInt32BE(2);
      raw.send(serialize.bind({ statement: 's1', values: [Buffer.from('items'), arraySend([0, 1, 0], type), k, null] }),
        serialize.execute({}), serialize.sync());
      assert.deepEqual(summary(await raw.readUntilReady()), ['bindComplete', 'D:b|0|{"color":"blue"}', 'D:d|1|{"color":"red"}', 'C:SELECT 2', 'Z:I']);
    }
    raw.send(serialize.parse({ name: '', text: 'SELECT vector_upsert($1, $2, $3)', types: [25, 25, 1021] }),
      serialize.bind({ values: ['items', 'bin', arraySend([3, 2, 1], 'float4')] }), serialize.execute({}), serialize.sync());
    assert.deepEqual(summary(await raw.readUntilReady()), ['parseComplete', 'bindComplete', 'D:1', 'C:SELECT 1', 'Z:I']);
    raw.send(serialize.parse({ name: '', text: `SELECT vector FROM vector_get('items', 'bin')`, types: [] }),
      serialize.bind({}), serialize.execute({}), serialize.sync());
    assert.deepEqual(summary(await raw.readUntilReady()), ['parseComplete', 'bindComplete', 'D:{3,2,1}', 'C:SELECT 1', 'Z:I']);
    raw.send(serialize.parse({ name: '', text: `SELECT * FROM vector_search('items', $1, 1)`, types: [] }),
      serialize.bind({ values: [Buffer.from([0, 0, 0, 9])] }), serialize.execute({}), serialize.sync());
    assert.deepEqual(summary(await raw.readUntilReady()), ['parseComplete', 'bindComplete', 'E:22P03', 'Z:I']);
  } finally {
    await raw.close();
  }
});

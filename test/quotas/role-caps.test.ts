// Caps per role, through the real stack: collections per role, vectors per collection, vectors and
// bytes over the owner's collections. Each is hit (53400 naming the limit and its value, at once)
// and frees again after deletes or a drop. The server default (config) applies to roles without a
// setting; a role setting of 0 lifts it. Each test drops what it made, so counts start from zero.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { startStack, type Stack } from '../helpers/stack.ts';
import { createOwnCollection, createTenant, failure, setUpSchema, tenantSessions } from './tenant-fixture.ts';

let stack: Stack;
const sessions = tenantSessions(() => stack);
const { connect } = sessions;
const upsert = (client: pg.Client, c: string, id: string, vector: string, payload: string | null = null) =>
  client.query('SELECT vector_upsert($1, $2, $3, $4::jsonb)', [c, id, vector, payload]);

before(async () => {
  stack = await startStack({ config: { quotaMaxVectorsPerCollection: 4 } });
  await setUpSchema(stack.cluster);
});
after(async () => {
  await sessions.endAll();
  await stack?.stop();
});

test('collections per role: the second create is 53400; a drop frees it', async () => {
  await createTenant(stack.cluster, 'vg_creator', { max_collections: 1 });
  const client = await connect('vg_creator');
  await client.query(`SELECT vector_create_collection('cap_one', 2)`);
  const err = await failure(client.query(`SELECT vector_create_collection('cap_two', 2)`));
  assert.equal(err.code, '53400');
  assert.equal(err.message, 'role "vg_creator" exceeded vectorgate.max_collections = 1');
  assert.match(err.hint ?? '', /Drop a collection first/);
  assert.equal((await client.query(`SELECT name FROM vector_collections()`)).rows.length, 1, 'nothing was created');
  await client.query(`SELECT vector_drop_collection('cap_one')`);
  await client.query(`SELECT vector_create_collection('cap_two', 2)`);
  await client.query(`SELECT vector_drop_collection('cap_two')`);
});

test('vectors per collection: a write or COPY past the cap is refused whole; deletes free room', async () => {
  await createTenant(stack.cluster, 'vg_rows', { max_vectors_per_collection: 3 });
  const client = await connect('vg_rows');
  await createOwnCollection(client, 'rows_capped', { a: [1, 0], b: [0, 1], c: [1, 1] });
  const err = await failure(client.query(`SELECT vector_upsert('rows_capped', '[{"id":"d","vector":[2,2]},{"id":"e","vector":[3,3]}]'::jsonb)`));
  assert.equal(err.code, '53400');
  assert.equal(err.message, 'role "vg_rows" exceeded vectorgate.max_vectors_per_collection = 3');
  assert.equal(err.detail, 'Collection "rows_capped" holds 3 vectors; this write adds 2.');
  assert.equal((await client.query(`SELECT * FROM vector_get('rows_capped', 'd')`)).rowCount, 0);
  const copied = await failure(pipeline(Readable.from([Buffer.from('x\t[5,5]\t\\N\n')]), client.query(copyFrom('COPY rows_capped FROM STDIN'))));
  assert.equal(copied.message, 'role "vg_rows" exceeded vectorgate.max_vectors_per_collection = 3', 'a COPY batch is checked before it is written');
  await client.query(`SELECT vector_delete('rows_capped', 'a')`);
  await upsert(client, 'rows_capped', 'd', '[2,2]');
  await client.query(`SELECT vector_drop_collection('rows_capped')`);
});

test('vectors per role count over all the owner\'s collections; dropping one frees them', async () => {
  await createTenant(stack.cluster, 'vg_total', { max_vectors: 3 });
  const client = await connect('vg_total');
  await createOwnCollection(client, 'total_one', { a: [1, 0], b: [0, 1] });
  await createOwnCollection(client, 'total_two', { a: [1, 0] });
  const err = await failure(upsert(client, 'total_two', 'b', '[0,1]'));
  assert.equal(err.code, '53400');
  assert.equal(err.message, 'role "vg_total" exceeded vectorgate.max_vectors = 3');
  await client.query(`SELECT vector_drop_collection('total_one')`);
  await upsert(client, 'total_two', 'b', '[0,1]');
  await client.query(`SELECT vector_drop_collection('total_two')`);
});

test('bytes per role: vectors (dims × 4) and payload JSON count; a delete frees them', async () => {
  await createTenant(stack.cluster, 'vg_bytes', { max_bytes: 40 });
  const client = await connect('vg_bytes');
  await createOwnCollection(client, 'bytes_capped', {});
  await upsert(client, 'bytes_capped', 'a', '[1,0]', '{"k":"aaaaaaaaaa"}'); // 8 + 18 bytes
  await upsert(client, 'bytes_capped', 'b', '[0,1]'); // 34 bytes now
  const err = await failure(upsert(client, 'bytes_capped', 'c', '[1,1]'));
  assert.equal(err.code, '53400');
  assert.equal(err.message, 'role "vg_bytes" exceeded vectorgate.max_bytes = 40');
  assert.match(err.detail ?? '', /hold 34 bytes; this write adds 8/);
  await client.query(`SELECT vector_delete('bytes_capped', 'a')`);
  await upsert(client, 'bytes_capped', 'c', '[1,1]');
  await client.query(`SELECT vector_drop_collection('bytes_capped')`);
});

test('the server default applies to a role without the setting; a role setting of 0 lifts it', async () => {
  await createTenant(stack.cluster, 'vg_default');
  await createTenant(stack.cluster, 'vg_exempt', { max_vectors_per_collection: 0 });
  const limited = await connect('vg_default');
  await createOwnCollection(limited, 'by_default', { a: [1, 0], b: [0, 1], c: [1, 1], d: [2, 2] });
  const err = await failure(upsert(limited, 'by_default', 'e', '[3,3]'));
  assert.equal(err.message, 'role "vg_default" exceeded vectorgate.max_vectors_per_collection = 4');
  const exempt = await connect('vg_exempt');
  await createOwnCollection(exempt, 'exempt', { a: [1, 0], b: [0, 1], c: [1, 1], d: [2, 2], e: [3, 3] });
  assert.equal((await exempt.query(`SELECT count(*)::int AS n FROM vector_search('exempt', '[1,0]', 10)`)).rows[0].n, 5);
  await limited.query(`SELECT vector_drop_collection('by_default')`);
  await exempt.query(`SELECT vector_drop_collection('exempt')`);
});

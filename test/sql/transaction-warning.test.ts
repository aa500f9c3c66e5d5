// Vector writes are not undone by ROLLBACK yet: the first vector write inside a transaction block
// gets a WARNING (01000) saying so, once per block; outside a block there is none. node-pg (its
// notice event) and psql (notices on stderr).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startStack, type Stack } from '../helpers/stack.ts';
import type { ClientTarget } from '../helpers/client-target.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { psql, lines } from '../clients/psql-runner.ts';

let stack: Stack;
let client: pg.Client;
const notices: { code?: string; severity?: string; message?: string }[] = [];
const target = (): ClientTarget => ({ kind: 'vectorgate', host: stack.proxyHost, port: stack.proxyPort, cluster: stack.cluster, stop: async () => {} });

before(async () => {
  stack = await startStack();
  client = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
  client.on('notice', (n) => notices.push(n));
  await client.query(`SELECT vector_create_collection('txwarn', 2, shards => 2)`);
});
after(async () => {
  await client?.end();
  await stack?.stop();
});

const warnings = () => notices.filter((n) => n.code === '01000' && n.severity === 'WARNING');

test('node-pg: one WARNING per transaction block at the first vector write, none outside', async () => {
  notices.length = 0;
  await client.query(`SELECT vector_upsert('txwarn', 'outside', ARRAY[1,0]::real[])`);
  assert.equal(warnings().length, 0, 'no warning outside a transaction block');

  await client.query('BEGIN');
  await client.query(`SELECT vector_upsert('txwarn', 'a', ARRAY[1,2]::real[])`);
  await client.query(`SELECT vector_upsert('txwarn', 'b', ARRAY[1,3]::real[])`);
  await client.query(`SELECT vector_delete('txwarn', 'outside')`);
  await client.query('ROLLBACK');
  assert.equal(warnings().length, 1, 'exactly one warning for the block');
  assert.match(warnings()[0]!.message!, /^vector writes are not transactional: /);

  // ROLLBACK did not undo it: what the warning said.
  const { rows } = await client.query(`SELECT * FROM vector_get('txwarn', 'a')`);
  assert.equal(rows.length, 1);

  await client.query('BEGIN');
  await client.query(`SELECT vector_upsert('txwarn', 'c', ARRAY[2,2]::real[])`);
  await client.query('COMMIT');
  assert.equal(warnings().length, 2, 'a new block warns again');

  await client.query(`SELECT vector_upsert('txwarn', 'd', ARRAY[3,2]::real[])`);
  assert.equal(warnings().length, 2, 'none after the block ended');
});

test('node-pg: the extended protocol warns too (a prepared vector_upsert with parameters)', async () => {
  notices.length = 0;
  await client.query('BEGIN');
  await client.query({ text: `SELECT vector_upsert('txwarn', $1, $2::real[])`, values: ['e', '{4,4}'] });
  await client.query('COMMIT');
  assert.equal(warnings().length, 1);
});

test('node-pg: a COPY into a collection inside a transaction block warns too', async () => {
  notices.length = 0;
  await client.query('BEGIN');
  await pipeline(Readable.from([Buffer.from('copied\t[6,6]\t\\N\n')]), client.query(copyFrom('COPY txwarn FROM STDIN')));
  await client.query('ROLLBACK');
  assert.equal(warnings().length, 1);
  assert.equal((await client.query(`SELECT * FROM vector_get('txwarn', 'copied')`)).rowCount, 1);
});

test('psql: the WARNING reaches stderr and the session goes on', async () => {
  const result = await psql(target(), ROLES.scram, {
    script: [
      'BEGIN;',
      `SELECT vector_upsert('txwarn', 'p', ARRAY[5,5]::real[]);`,
      'ROLLBACK;',
      `SELECT * FROM vector_get('txwarn', 'p');`,
    ].join('\n'),
  });
  const out = lines(result);
  assert.deepEqual(out.slice(0, 3), ['BEGIN', '1', 'ROLLBACK']);
  assert.match(out[3]!, /^p\|/, 'the row is still there after ROLLBACK');
  assert.match(result.stderr, /WARNING: {2}vector writes are not transactional: /);
  assert.equal(result.stderr.match(/WARNING/g)?.length, 1);
});

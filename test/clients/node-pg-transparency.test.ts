// node-postgres through vectorgate on the edges of "PostgreSQL answers everything that is not ours":
// statements that only mention vectorgate_version(), and values far larger than a network read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { startTarget, type ClientTarget } from '../helpers/client-target.ts';
import { seeded } from '../helpers/random.ts';
import { connectPg } from './pg-connect.ts';

let target: ClientTarget;
let client: pg.Client;

before(async () => {
  target = await startTarget();
  client = await connectPg(target);
});
after(async () => {
  await client?.end();
  await target?.stop();
});

test('node-pg: statements that only mention vectorgate_version() are PostgreSQL\'s to answer', async () => {
  assert.deepEqual((await client.query(`SELECT 'SELECT vectorgate_version()' AS s`)).rows, [{ s: 'SELECT vectorgate_version()' }]);
  assert.deepEqual((await client.query('SELECT $1::text AS s', ['vectorgate_version()'])).rows, [{ s: 'vectorgate_version()' }]);
  assert.deepEqual((await client.query('/* vectorgate_version() */ SELECT 1 AS one')).rows, [{ one: 1 }]);
  assert.deepEqual((await client.query('-- SELECT vectorgate_version()\nSELECT 2 AS two')).rows, [{ two: 2 }]);
  assert.deepEqual((await client.query('SELECT 1 AS vectorgate_version')).rows, [{ vectorgate_version: 1 }]);
});

test('node-pg: a 2 MB statement that mentions "vector" in a literal passes through', async () => {
  // Any text may contain the word; only PostgreSQL decides what a statement of this size means.
  const literal = 'vector embeddings '.repeat(120_000);
  const { rows } = await client.query(`SELECT length('${literal}') AS n`);
  assert.equal(rows[0].n, literal.length);
});

test('node-pg: a 16 MB bytea parameter and a 24 MB result pass through intact', async () => {
  const random = seeded(16);
  const blob = Buffer.alloc(16 * 1024 * 1024);
  for (let i = 0; i < blob.length; i += 4) blob.writeUInt32LE(Math.floor(random() * 2 ** 32), i);
  const echoed = await client.query('SELECT $1::bytea AS b, md5($1::bytea) AS digest', [blob]);
  assert.equal(echoed.rows[0].digest, createHash('md5').update(blob).digest('hex'));
  assert.ok(blob.equals(echoed.rows[0].b));
  const big = await client.query(`SELECT repeat('ab', 12 * 1024 * 1024) AS s`);
  assert.equal(big.rows[0].s.length, 24 * 1024 * 1024);
  assert.equal((await client.query('SELECT vectorgate_version()')).rows[0].vectorgate_version, '0.1.0');
});

// vectorgate_version(), answered by the proxy, on every path node-postgres takes: simple and
// extended protocol, named statements, transactions, failed transactions, and mixed in with
// statements PostgreSQL answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { startTarget, type ClientTarget } from '../helpers/client-target.ts';
import { seeded, randomInt } from '../helpers/random.ts';
import { startPipelineProbe } from '../helpers/pipeline-probe.ts';
import { connectPg, rejection } from './pg-connect.ts';

const VERSION = '0.1.0';
const TEXT_OID = 25;

let target: ClientTarget;
let client: pg.Client;

before(async () => {
  target = await startTarget();
  client = await connectPg(target);
  await client.query('CREATE TABLE version_log (n int)');
});
after(async () => {
  await client?.end();
  await target?.stop();
});

test('vectorgate_version() via node-pg: simple protocol, one text column named vectorgate_version', async () => {
  const result = await client.query('SELECT vectorgate_version()');
  assert.deepEqual(result.rows, [{ vectorgate_version: VERSION }]);
  assert.deepEqual(result.fields.map((f) => [f.name, f.dataTypeID]), [['vectorgate_version', TEXT_OID]]);
  assert.equal(result.command, 'SELECT');
  assert.equal(result.rowCount, 1);
});

test('vectorgate_version() via node-pg: extended protocol, unnamed statement', async () => {
  const result = await client.query({ text: 'SELECT vectorgate_version()', values: [] });
  assert.deepEqual(result.rows, [{ vectorgate_version: VERSION }]);
  assert.deepEqual(result.fields.map((f) => [f.name, f.dataTypeID]), [['vectorgate_version', TEXT_OID]]);
  const aliased = await client.query({ text: 'SELECT vectorgate_version() AS v', values: [], rowMode: 'array' });
  assert.deepEqual(aliased.rows, [[VERSION]]);
  assert.equal(aliased.fields[0]!.name, 'v');
});

test('vectorgate_version() via node-pg: a named prepared statement executed twice', async () => {
  // node-postgres parses a named statement once and afterwards only binds and executes it.
  for (let i = 0; i < 2; i++) {
    const result = await client.query({ name: 'v', text: 'SELECT vectorgate_version()' });
    assert.deepEqual(result.rows, [{ vectorgate_version: VERSION }]);
  }
});

test('vectorgate_version() via node-pg: named local and named pass-through statements alternate', async () => {
  for (let i = 0; i < 4; i++) {
    const local = await client.query({ name: 'version_named', text: 'SELECT vectorgate_version() AS v' });
    const upstream = await client.query({ name: 'double_named', text: 'SELECT $1::int * 2 AS d', values: [i] });
    assert.deepEqual([local.rows, upstream.rows], [[{ v: VERSION }], [{ d: i * 2 }]]);
  }
});

test('vectorgate_version() via node-pg: in a simple query string between pass-through statements', async () => {
  const results = await client.query(`SELECT 1 AS a; SELECT vectorgate_version(); SELECT 'c' AS c`) as unknown as pg.QueryResult[];
  assert.deepEqual(results.map((r) => r.rows), [[{ a: 1 }], [{ vectorgate_version: VERSION }], [{ c: 'c' }]]);
});

test('vectorgate_version() via node-pg: inside BEGIN/COMMIT the transaction carries on around it', async () => {
  await client.query('BEGIN');
  await client.query('INSERT INTO version_log VALUES (1)');
  assert.equal((await client.query('SELECT vectorgate_version()')).rows[0].vectorgate_version, VERSION);
  assert.equal((await client.query({ text: 'SELECT vectorgate_version()', values: [] })).rows[0].vectorgate_version, VERSION);
  await client.query('INSERT INTO version_log VALUES (2)');
  await client.query('COMMIT');
  await client.query('BEGIN');
  await client.query('INSERT INTO version_log VALUES (3)');
  assert.equal((await client.query('SELECT vectorgate_version()')).rows[0].vectorgate_version, VERSION);
  await client.query('ROLLBACK');
  const { rows } = await client.query('SELECT n FROM version_log ORDER BY n');
  assert.deepEqual(rows, [{ n: 1 }, { n: 2 }]);
});

test('vectorgate_version() via node-pg: inside a failed transaction it fails with 25P02, like any statement', async () => {
  await client.query('BEGIN');
  await assert.rejects(client.query('SELECT 1/0'), { code: '22012' });
  assert.equal((await rejection(client.query('SELECT vectorgate_version()'))).code, '25P02');
  assert.equal((await rejection(client.query({ text: 'SELECT vectorgate_version()', values: [] }))).code, '25P02');
  assert.equal((await rejection(client.query({ name: 'v', text: 'SELECT vectorgate_version()' }))).code, '25P02');
  assert.equal((await rejection(client.query('SELECT 1'))).code, '25P02', 'PostgreSQL still considers the transaction failed');
  await client.query('ROLLBACK');
  assert.equal((await client.query('SELECT vectorgate_version()')).rows[0].vectorgate_version, VERSION);
});

test('vectorgate_version() via node-pg: seeded interleaving with pass-through statements, all queued at once', async () => {
  const random = seeded(4242);
  const expected: unknown[] = [];
  const pending: Promise<pg.QueryResult>[] = [];
  for (let i = 0; i < 300; i++) {
    switch (randomInt(random, 6)) {
      case 0: pending.push(client.query('SELECT vectorgate_version() AS r')); expected.push(VERSION); break;
      case 1: pending.push(client.query({ text: 'SELECT vectorgate_version() AS r', values: [] })); expected.push(VERSION); break;
      case 2: pending.push(client.query({ name: 'interleaved_v', text: 'SELECT vectorgate_version() AS r' })); expected.push(VERSION); break;
      case 3: pending.push(client.query(`SELECT ${i} AS r`)); expected.push(i); break;
      case 4: pending.push(client.query('SELECT $1::int AS r', [i])); expected.push(i); break;
      default: pending.push(client.query({ name: 'interleaved_p', text: 'SELECT $1::text AS r', values: [`p${i}`] })); expected.push(`p${i}`);
    }
  }
  const results = await Promise.all(pending);
  assert.deepEqual(results.map((r) => r.rows[0].r), expected);
});

test('vectorgate_version() via node-pg: pipeline mode with pass-through statements and an error', async () => {
  const probe = await startPipelineProbe(target.host, target.port);
  const pipelined = await connectPg(target, { port: probe.port, pipeline: true });
  try {
    const random = seeded(99);
    const expected: unknown[] = [];
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      const pick = randomInt(random, 5);
      if (pick === 0) {
        pending.push(pipelined.query({ text: 'SELECT vectorgate_version() AS r', values: [] }).then((r) => r.rows[0].r));
        expected.push(VERSION);
      } else if (pick === 1) {
        pending.push(pipelined.query({ name: 'pipe_v', text: 'SELECT vectorgate_version() AS r' }).then((r) => r.rows[0].r));
        expected.push(VERSION);
      } else if (pick === 2 && i % 7 === 0) {
        pending.push(rejection(pipelined.query('SELECT 1/$1::int AS r', [0])).then((e) => e.code));
        expected.push('22012');
      } else {
        pending.push(pipelined.query('SELECT $1::int + 1 AS r', [i]).then((r) => r.rows[0].r));
        expected.push(i + 1);
      }
    }
    assert.deepEqual(await Promise.all(pending), expected);
    assert.ok(probe.maxInFlight() > 1, `node-postgres pipelined (at most ${probe.maxInFlight()} Syncs in flight)`);
  } finally {
    await pipelined.end();
    await probe.close();
  }
});

// node-postgres through vectorgate: the query paths an application uses every day.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type pg from 'pg';
import { startTarget, type ClientTarget } from '../helpers/client-target.ts';
import { seeded, randomInt, type Random } from '../helpers/random.ts';
import { connectPg, backendKey } from './pg-connect.ts';

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

test('node-pg: BackendKeyData carries the backend pid the session really has', async () => {
  const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
  assert.equal(rows[0].pid, backendKey(client).processID);
});

test('node-pg: simple query', async () => {
  const result = await client.query(`SELECT 1 AS one, 'dva' AS two, NULL::int AS nothing`);
  assert.deepEqual(result.rows, [{ one: 1, two: 'dva', nothing: null }]);
  assert.equal(result.command, 'SELECT');
  assert.equal(result.rowCount, 1);
});

test('node-pg: parameterized query with several types', async () => {
  const bytes = Buffer.from([0, 1, 2, 250, 255]);
  const result = await client.query(
    'SELECT $1::int + 1 AS n, $2::text AS t, $3::int AS missing, $4::bytea AS b, $5::jsonb AS j, $6::int[] AS a',
    [41, 'ünïcødé ✓', null, bytes, JSON.stringify({ k: [1, 'x'] }), [3, 1, 2]],
  );
  assert.deepEqual(result.rows, [{ n: 42, t: 'ünïcødé ✓', missing: null, b: bytes, j: { k: [1, 'x'] }, a: [3, 1, 2] }]);
});

test('node-pg: a named prepared statement is parsed once and re-executed', async () => {
  for (const [a, b] of [[1, 2], [20, 22], [-5, 5]]) {
    const { rows } = await client.query({ name: 'node_pg_add', text: 'SELECT $1::int + $2::int AS sum', values: [a, b] });
    assert.equal(rows[0].sum, a! + b!);
  }
  // The statement lives in the PostgreSQL session under the client's own name.
  const { rows } = await client.query(`SELECT statement FROM pg_prepared_statements WHERE name = 'node_pg_add'`);
  assert.deepEqual(rows, [{ statement: 'SELECT $1::int + $2::int AS sum' }]);
});

test('node-pg: COPY FROM STDIN and COPY TO STDOUT round-trip, sent in uneven chunks', async () => {
  const random = seeded(7001);
  const text = randomCopyText(random, 5000);
  await client.query('CREATE TABLE node_pg_copy (id int PRIMARY KEY, label text, score float8)');
  await pipeline(Readable.from(unevenChunks(random, Buffer.from(text))), client.query(copyFrom('COPY node_pg_copy FROM STDIN')));
  assert.equal((await client.query('SELECT count(*)::int AS n FROM node_pg_copy')).rows[0].n, 5000);
  const chunks: Buffer[] = [];
  const out = client.query(copyTo('COPY (SELECT * FROM node_pg_copy ORDER BY id) TO STDOUT'));
  for await (const chunk of out) chunks.push(chunk as Buffer);
  assert.equal(Buffer.concat(chunks).toString('utf8'), text);
  // The connection is in a clean state after both copies.
  assert.equal((await client.query('SELECT 1 AS ok')).rows[0].ok, 1);
});

test('node-pg: a COPY FROM with a bad row fails and the session goes on', async () => {
  await client.query('CREATE TABLE node_pg_copy_bad (id int)');
  const stream = client.query(copyFrom('COPY node_pg_copy_bad FROM STDIN'));
  const failed = await pipeline(Readable.from(['1\n2\nnot-a-number\n']), stream).then(() => null, (err: { code?: string }) => err);
  assert.equal(failed?.code, '22P02');
  assert.equal((await client.query('SELECT count(*)::int AS n FROM node_pg_copy_bad')).rows[0].n, 0);
});

test('node-pg: LISTEN/NOTIFY between two clients', async () => {
  const listener = await connectPg(target);
  const notifier = await connectPg(target);
  try {
    const received: pg.Notification[] = [];
    const gotTwo = new Promise<void>((resolve) => {
      listener.on('notification', (n) => { received.push(n); if (received.length === 2) resolve(); });
    });
    await listener.query('LISTEN node_pg_channel');
    await notifier.query(`NOTIFY node_pg_channel, 'first'`);
    await notifier.query(`SELECT pg_notify('node_pg_channel', $1)`, ['second ✓']);
    // The listener is idle: the notifications arrive on their own, not as part of a response.
    await gotTwo;
    const notifierPid = backendKey(notifier).processID;
    assert.deepEqual(received.map((n) => [n.channel, n.payload, n.processId]), [
      ['node_pg_channel', 'first', notifierPid],
      ['node_pg_channel', 'second ✓', notifierPid],
    ]);
  } finally {
    await listener.end();
    await notifier.end();
  }
});

test('node-pg: NoticeResponse reaches the client', async () => {
  const notices: string[] = [];
  const onNotice = (notice: { message?: string }) => notices.push(notice.message ?? '');
  client.on('notice', onNotice);
  try {
    await client.query(`DO $$ BEGIN RAISE NOTICE 'hello %', 42; RAISE WARNING 'careful'; END $$`);
    assert.deepEqual(notices, ['hello 42', 'careful']);
  } finally {
    client.off('notice', onNotice);
  }
});

test('node-pg: an error leaves the session usable', async () => {
  await assert.rejects(client.query('SELECT * FROM no_such_table'), { code: '42P01' });
  await assert.rejects(client.query('SELECT $1::int', ['nope']), { code: '22P02' });
  assert.equal((await client.query('SELECT 2 AS two')).rows[0].two, 2);
});

/** COPY text format exactly as PostgreSQL writes it (tabs, \N for NULL, escaped specials). */
function randomCopyText(random: Random, rows: number): string {
  const alphabet = ['a', 'Q', ' ', '\t', '\n', '\\', 'ж', '😀', '.', '9'];
  const lines: string[] = [];
  for (let id = 1; id <= rows; id++) {
    let label = '';
    const length = randomInt(random, 16);
    for (let i = 0; i < length; i++) label += alphabet[randomInt(random, alphabet.length)];
    const escaped = label.replaceAll('\\', '\\\\').replaceAll('\t', '\\t').replaceAll('\n', '\\n');
    const score = randomInt(random, 8) === 0 ? '\\N' : String(randomInt(random, 1_000_000) / 64);
    lines.push(`${id}\t${randomInt(random, 8) === 0 ? '\\N' : escaped}\t${score}\n`);
  }
  return lines.join('');
}

/** Splits a buffer at seeded places, one byte to a few kilobytes, so messages straddle chunks. */
function unevenChunks(random: Random, data: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length;) {
    const size = 1 + randomInt(random, randomInt(random, 2) === 0 ? 16 : 4096);
    chunks.push(data.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

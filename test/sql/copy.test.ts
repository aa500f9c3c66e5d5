// COPY ... FROM STDIN into a collection, in text, csv and binary, through pg-copy-streams (data cut into
// uneven CopyData messages that split rows anywhere) and psql's \copy; COPY into a table still goes to
// PostgreSQL; bad data gets its SQLSTATE with the line, and the session goes on. A COPY that fails (bad
// row, CopyFail, client gone) keeps nothing up to copyAtomicMaxRows; a longer one says so in a NOTICE.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startStack, type Stack } from '../helpers/stack.ts';
import type { ClientTarget } from '../helpers/client-target.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { seeded, randomInt, type Random } from '../helpers/random.ts';
import { rejection } from '../clients/pg-connect.ts';
import { psql, lines } from '../clients/psql-runner.ts';
import { copyBinary } from './sql-helpers.ts';
import { WireClient, serialize } from '../helpers/wire-client.ts';

const DIMS = 4;
const ROWS = 500;
/** COPYs of up to this many rows are all-or-nothing here; the 500-row ones go past it. */
const ATOMIC_ROWS = 300;
/** … and of up to this many bytes of COPY data. */
const ATOMIC_BYTES = 512 * 1024;
const notices: { severity?: string; message?: string }[] = [];
let stack: Stack;
let client: pg.Client;
let dir: string;
/** The proxy as psql-runner's target; stopping stays with this file's after(). */
const target = (): ClientTarget => ({ kind: 'vectorgate', host: stack.proxyHost, port: stack.proxyPort, cluster: stack.cluster, stop: async () => {} });
const random = seeded(3);

before(async () => {
  // A small input buffer: the proxy stops reading a COPY's data until it has taken what it read, so a
  // CopyFail or a disconnect behind 300 KB of rows reaches it only after most of them were parsed.
  stack = await startStack({ config: { copyBatchRows: 64, copyAtomicMaxRows: ATOMIC_ROWS, copyAtomicMaxBytes: ATOMIC_BYTES, maxHeldClientBytes: 32 * 1024 } });
  client = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
  client.on('notice', (n) => notices.push(n));
  dir = mkdtempSync(join(tmpdir(), 'vectorgate-copy-'));
});
after(async () => {
  await client?.end();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Row { id: string; vector: number[]; payload: Record<string, unknown> | null }

function makeRows(prefix: string, n: number): Row[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    vector: Array.from({ length: DIMS }, () => (randomInt(random, 2001) - 1000) / 1000),
    payload: i % 5 === 0 ? null : { i, note: i % 7 === 0 ? 'tab\there, "quote", comma,\nnewline \\ back' : 'plain' },
  }));
}

function* unevenChunks(rng: Random, data: Buffer): Generator<Buffer> {
  for (let at = 0; at < data.length;) {
    const size = 1 + randomInt(rng, 97);
    yield data.subarray(at, at + size);
    at += size;
  }
}

function textCopy(rows: Row[]): string {
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');
  return rows.map((r) => [esc(r.id), `[${r.vector.join(',')}]`, r.payload === null ? '\\N' : esc(JSON.stringify(r.payload))].join('\t') + '\n').join('');
}

function csvCopy(rows: Row[]): string {
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return 'id,vector,payload\n' + rows.map((r) => [q(r.id), `"{${r.vector.join(',')}}"`, r.payload === null ? '' : q(JSON.stringify(r.payload))].join(',') + '\n').join('');
}

async function collection(name: string): Promise<void> {
  await client.query(`SELECT vector_create_collection('${name}', ${DIMS}, shards => 3)`);
}

/** Every row reads back with its vector (float4, printed shortest, so as written) and payload. */
async function assertStored(name: string, rows: Row[]): Promise<void> {
  const listed = (await client.query(`SELECT name, vectors FROM vector_collections()`)).rows.find((r) => r.name === name);
  assert.equal(listed?.vectors, String(rows.length));
  for (const row of rows.filter((_, i) => i % 37 === 0 || i === rows.length - 1)) {
    const got = (await client.query(`SELECT * FROM vector_get($1, $2)`, [name, row.id])).rows[0];
    assert.deepEqual(got, { id: row.id, vector: row.vector, payload: row.payload }, row.id);
  }
}

test('COPY text into a collection, CopyData split anywhere; batches of copyBatchRows', async () => {
  await collection('copy_text');
  const rows = makeRows('t', ROWS);
  const stream = client.query(copyFrom('COPY copy_text (id, vector, payload) FROM STDIN'));
  await pipeline(Readable.from(unevenChunks(random, Buffer.from(textCopy(rows)))), stream);
  assert.equal((stream as unknown as { rowCount: number }).rowCount, ROWS);
  await assertStored('copy_text', rows);
});

test('COPY csv with HEADER, columns in another order', async () => {
  await collection('copy_csv');
  const rows = makeRows('c', ROWS);
  await pipeline(Readable.from(unevenChunks(random, Buffer.from(csvCopy(rows)))), client.query(copyFrom(`COPY copy_csv FROM STDIN WITH (FORMAT csv, HEADER true)`)));
  await assertStored('copy_csv', rows);
  const reordered = makeRows('r', 3);
  const data = reordered.map((r) => `"{${r.vector.join(',')}}",${r.id}\n`).join('');
  await pipeline(Readable.from([Buffer.from(data)]), client.query(copyFrom('COPY copy_csv (vector, id) FROM STDIN CSV')));
  assert.deepEqual((await client.query(`SELECT id, payload FROM vector_get('copy_csv', 'r-1')`)).rows, [{ id: 'r-1', payload: null }]);
});

test('COPY binary (array_send vectors, jsonb payloads)', async () => {
  await collection('copy_bin');
  const rows = makeRows('b', ROWS);
  const data = copyBinary(rows.map((r) => [r.id, r.vector, r.payload === null ? null : JSON.stringify(r.payload)]));
  await pipeline(Readable.from(unevenChunks(random, data)), client.query(copyFrom('COPY copy_bin (id, vector, payload) FROM STDIN WITH (FORMAT binary)')));
  await assertStored('copy_bin', rows);
});

test('psql \\copy in text and csv', async () => {
  await collection('copy_psql');
  const rows = makeRows('p', 200);
  writeFileSync(join(dir, 'rows.txt'), textCopy(rows.slice(0, 100)));
  writeFileSync(join(dir, 'rows.csv'), csvCopy(rows.slice(100)));
  const out = lines(await psql(target(), ROLES.scram, {
    commands: [
      `\\copy copy_psql (id, vector, payload) from '${join(dir, 'rows.txt')}'`,
      `\\copy copy_psql from '${join(dir, 'rows.csv')}' with (format csv, header)`,
    ],
  }));
  assert.deepEqual(out, ['COPY 100', 'COPY 100']);
  await assertStored('copy_psql', rows);
});

test('COPY into an ordinary table still goes to PostgreSQL', async () => {
  await client.query('CREATE TABLE plain_rows (id text, vector text, payload jsonb)');
  await pipeline(Readable.from([Buffer.from('a\t[1,2]\t{}\nb\t[3]\t\\N\n')]), client.query(copyFrom('COPY plain_rows (id, vector, payload) FROM STDIN')));
  assert.deepEqual((await client.query('SELECT id, vector FROM plain_rows ORDER BY id')).rows, [{ id: 'a', vector: '[1,2]' }, { id: 'b', vector: '[3]' }]);
  // A collection dropped after a COPY of its name was seen: the next COPY of that name is PostgreSQL's.
  await collection('gone');
  await client.query(`SELECT vector_drop_collection('gone')`);
  const err = await rejection(pipeline(Readable.from([Buffer.from('x\t[1,2,3,4]\t\\N\n')]), client.query(copyFrom('COPY gone FROM STDIN'))));
  assert.equal((err as { code?: string }).code, '42P01');
});

// [SQLSTATE, statement, data, PostgreSQL's CONTEXT line (null: none, the statement itself is wrong)]
const BAD_DATA: [string, string, string, string | null][] = [
  ['22P02', 'COPY copy_text FROM STDIN', 'ok-1\t[1,2,3,4]\t\\N\nbad\t[1,x,3,4]\t\\N\nok-3\t[1,2,3,4]\t\\N\n', 'COPY copy_text, line 2, column vector'],
  ['22000', 'COPY copy_text FROM STDIN', 'dims\t[1,2,3]\t\\N\n', 'COPY copy_text, line 1, column vector'],
  ['22000', 'COPY copy_text FROM STDIN', 'nan\t[1,NaN,3,4]\t\\N\n', 'COPY copy_text, line 1, column vector'],
  ['22P04', 'COPY copy_text FROM STDIN', 'a\t[1,2,3,4]\t{}\nshort\t[1,2,3,4]\n', 'COPY copy_text, line 2'],
  ['22P04', 'COPY copy_text FROM STDIN', 'long\t[1,2,3,4]\t{}\textra\n', 'COPY copy_text, line 1'],
  ['23502', 'COPY copy_text FROM STDIN', '\\N\t[1,2,3,4]\t{}\n', 'COPY copy_text, line 1, column id'],
  ['22P02', 'COPY copy_text FROM STDIN', 'json\t[1,2,3,4]\t{nope\n', 'COPY copy_text, line 1, column payload'],
  ['22P04', 'COPY copy_text FROM STDIN CSV', 'a,"[1,2,3,4]",{}\nq,"[1,2,3,4]","{}\n', 'COPY copy_text, line 2'],
  ['22P04', 'COPY copy_text FROM STDIN BINARY', 'not binary\n', 'COPY copy_text, line 0'],
  ['42703', 'COPY copy_text (id, vector, colour) FROM STDIN', '', null],
  ['0A000', 'COPY copy_text (id, payload) FROM STDIN', '', null],
  ['0A000', 'COPY copy_text FROM STDIN WITH (FORMAT csv, QUOTE \'\'\'\')', '', null],
];

test('bad COPY data gets its SQLSTATE and the line and column of the bad row, and the session goes on', async () => {
  for (const [code, sql, data, where] of BAD_DATA) {
    const err = await rejection(pipeline(Readable.from([Buffer.from(data)]), client.query(copyFrom(sql)))) as Error & { code?: string; where?: string };
    assert.equal(err.code, code, `${sql} / ${JSON.stringify(data)}: ${err.message}`);
    assert.equal(err.where, where ?? undefined, `${sql} / ${JSON.stringify(data)}`);
    assert.deepEqual((await client.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  }
  assert.equal((await client.query(`SELECT * FROM vector_get('copy_text', 'dims')`)).rowCount, 0);
  const err = await rejection(client.query('COPY copy_text TO STDOUT'));
  assert.equal(err.code, '0A000');
});

/** 250 rows of about 1.2 KB each: far more than the proxy reads ahead. */
function bulkyCopy(prefix: string): Buffer {
  const rows = makeRows(prefix, 250).map((r, i) => ({ ...r, payload: { i, text: 'x'.repeat(1200) } }));
  return Buffer.from(textCopy(rows));
}

async function storedVectors(name: string): Promise<number> {
  const listed = (await client.query(`SELECT name, vectors FROM vector_collections()`)).rows.find((r) => r.name === name);
  return Number(listed.vectors);
}

test('a COPY with a bad row keeps none of its rows (200 rows, 3 batches of copyBatchRows before the bad one)', async () => {
  await collection('copy_bad_row');
  const rows = makeRows('bad', 200);
  const data = textCopy(rows.slice(0, 199)) + 'broken\t[1,2,x,4]\t\\N\n' + textCopy(rows.slice(199));
  const err = await rejection(pipeline(Readable.from(unevenChunks(random, Buffer.from(data))), client.query(copyFrom('COPY copy_bad_row FROM STDIN'))));
  assert.equal((err as { code?: string }).code, '22P02');
  assert.equal(await storedVectors('copy_bad_row'), 0);
  // The same rows without the bad one arrive whole.
  await pipeline(Readable.from([Buffer.from(textCopy(rows))]), client.query(copyFrom('COPY copy_bad_row FROM STDIN')));
  await assertStored('copy_bad_row', rows);
});

test('a COPY the client ends with CopyFail keeps none of its rows', async () => {
  await collection('copy_fail');
  const stream = client.query(copyFrom('COPY copy_fail FROM STDIN'));
  const failed = rejection(new Promise((resolve, reject) => { stream.on('finish', resolve); stream.on('error', reject); }));
  // Written through as CopyData messages of 8 KB before the CopyFail (destroy() drops what the stream
  // still buffers).
  const data = bulkyCopy('f');
  for (let at = 0; at < data.length; at += 8192) await new Promise((resolve) => stream.write(data.subarray(at, at + 8192), resolve));
  // pg-copy-streams sends CopyFail with the error's message when the stream is destroyed.
  stream.destroy(new Error('the client gave up'));
  const err = await failed as Error & { code?: string };
  assert.equal(err.code, '57014', err.message);
  assert.equal(await storedVectors('copy_fail'), 0);
  assert.deepEqual((await client.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
});

test('a COPY whose client disconnects keeps none of its rows', async () => {
  await collection('copy_gone');
  await client.query(`GRANT INSERT, UPDATE ON vectorgate.copy_gone TO ${ROLES.trust.user}`);
  const before = stack.proxy.sessions.size;
  const raw = await WireClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE);
  try {
    raw.send(serialize.query('COPY copy_gone FROM STDIN'));
    await raw.readUntil((m) => m.name === 'copyInResponse');
    const data = bulkyCopy('g');
    for (let at = 0; at < data.length; at += 8192) raw.send(serialize.copyData(data.subarray(at, at + 8192)));
  } finally {
    raw.socket.destroy();
  }
  while (stack.proxy.sessions.size > before) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(await storedVectors('copy_gone'), 0);
});

test('past copyAtomicMaxRows a NOTICE says earlier batches stay, before the first one is written', async () => {
  await collection('copy_long');
  notices.length = 0;
  const rows = makeRows('l', 450);
  const data = textCopy(rows) + 'broken\t[1,2,x,4]\t\\N\n';
  const err = await rejection(pipeline(Readable.from([Buffer.from(data)]), client.query(copyFrom('COPY copy_long FROM STDIN'))));
  assert.equal((err as { code?: string }).code, '22P02');
  const notice = notices.find((n) => n.severity === 'NOTICE');
  assert.match(notice?.message ?? '', new RegExp(`^COPY into collection "copy_long" exceeds ${ATOMIC_ROWS} rows .*the batches written before stay$`));
  // Every full batch of 64 before the bad row was written: 7 × 64 of the 450.
  assert.equal(await storedVectors('copy_long'), 448);
  notices.length = 0;
  const small = makeRows('s', 100);
  await pipeline(Readable.from([Buffer.from(textCopy(small))]), client.query(copyFrom('COPY copy_long FROM STDIN')));
  assert.equal(notices.length, 0, 'a COPY within the limit gets no NOTICE');
});

test('past copyAtomicMaxBytes (with fewer rows than the row limit) the NOTICE comes too', async () => {
  await collection('copy_wide');
  notices.length = 0;
  const rows = makeRows('w', 200).map((r, i) => ({ ...r, payload: { i, text: 'y'.repeat(3000) } }));
  const data = Buffer.from(textCopy(rows) + 'broken\t[1,2,x,4]\t\\N\n');
  assert.ok(data.length > ATOMIC_BYTES && rows.length < ATOMIC_ROWS);
  const err = await rejection(pipeline(Readable.from([data]), client.query(copyFrom('COPY copy_wide FROM STDIN'))));
  assert.equal((err as { code?: string }).code, '22P02');
  assert.match(notices.find((n) => n.severity === 'NOTICE')?.message ?? '', new RegExp(`exceeds ${ATOMIC_ROWS} rows or ${ATOMIC_BYTES} bytes`));
  // One CopyData message of all the rows: past the byte limit from the first row on, 3 × 64 written.
  assert.equal(await storedVectors('copy_wide'), 192);
});

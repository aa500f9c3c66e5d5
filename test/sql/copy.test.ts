// COPY ... FROM STDIN into a collection, in text, csv and binary, through pg-copy-streams (data cut into
// uneven CopyData messages that split rows anywhere) and psql's \copy; COPY into a table still goes to
// PostgreSQL; bad data gets its SQLSTATE with the line, and the session goes on.
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

const DIMS = 4;
const ROWS = 500;
let stack: Stack;
let client: pg.Client;
let dir: string;
/** The proxy as psql-runner's target; stopping stays with this file's after(). */
const target = (): ClientTarget => ({ kind: 'vectorgate', host: stack.proxyHost, port: stack.proxyPort, cluster: stack.cluster, stop: async () => {} });
const random = seeded(3);

before(async () => {
  stack = await startStack({ config: { copyBatchRows: 64 } });
  client = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
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

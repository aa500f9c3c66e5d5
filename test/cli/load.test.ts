// `vectorgate load` as a user runs it: a child process loading .fvecs, .jsonl and .csv files through the
// proxy (running in this process, hence the asynchronous spawn), checked against the collections.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { runProcess, cleanEnv, type ProcessResult } from '../helpers/run-process.ts';
import { seeded } from '../helpers/random.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'vectorgate-load-'));
let stack: Stack;

before(async () => { stack = await startStack(); });
after(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function url(): string {
  return `postgres://${ROLES.scram.user}:${ROLES.scram.password}@127.0.0.1:${stack.proxyPort}/${DATABASE}`;
}

function load(file: string, ...flags: string[]): Promise<ProcessResult> {
  return runProcess(process.execPath, ['bin/vectorgate.js', 'load', file, '--url', url(), ...flags], { cwd: ROOT, env: cleanEnv() });
}

/** Float32-exact random vectors, so what comes back must be bit-equal. */
function vectors(count: number, dims: number, seed: number): Float32Array[] {
  const random = seeded(seed);
  return Array.from({ length: count }, () => Float32Array.from({ length: dims }, () => random() * 2 - 1));
}

function writeFvecs(path: string, rows: Float32Array[]): void {
  const dims = rows[0]!.length;
  const buf = Buffer.alloc(rows.length * 4 * (dims + 1));
  rows.forEach((v, r) => {
    buf.writeInt32LE(dims, r * 4 * (dims + 1));
    v.forEach((x, i) => buf.writeFloatLE(x, r * 4 * (dims + 1) + 4 + 4 * i));
  });
  writeFileSync(path, buf);
}

async function count(name: string): Promise<number> {
  return (await stack.app.listCollections()).find((c) => c.name === name)!.vectors!;
}

async function assertRow(name: string, id: string, vector: Float32Array, payload: unknown = null): Promise<void> {
  const row = await stack.app.get(name, id);
  assert.ok(row, `row ${id} missing`);
  assert.deepEqual(Array.from(row.vector), Array.from(vector), `vector of ${id}`);
  assert.deepEqual(row.payload === null ? null : JSON.parse(row.payload), payload, `payload of ${id}`);
}

test('fvecs into an existing collection, in several COPY statements: ids are row numbers', async () => {
  const rows = vectors(1234, 8, 1);
  const file = join(dir, 'small.fvecs');
  writeFvecs(file, rows);
  await stack.app.createCollection({ name: 'fv', dims: 8, metric: 'l2', shards: 2, owner: ROLES.scram.user });
  const out = await load(file, '--collection', 'fv', '--batch-size', '500');
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stderr, /loaded 1234 rows into fv .* rows\/s/);
  assert.equal(await count('fv'), 1234);
  for (const i of [0, 499, 500, 1233]) await assertRow('fv', String(i), rows[i]!);
  const hits = await stack.app.search('fv', rows[17]!, 1);
  assert.equal(hits[0]!.id, '17');
});

test('jsonl with --create (dimensions from the file), payloads and rows without one', async () => {
  const rows = vectors(300, 5, 2);
  const lines = rows.map((v, i) => JSON.stringify({ id: i % 2 ? `doc-${i}` : i, vector: Array.from(v), ...(i % 3 ? { payload: { n: i, tag: 'x' } } : {}) }));
  const file = join(dir, 'docs.jsonl');
  writeFileSync(file, lines.join('\n') + '\n');
  const out = await load(file, '--collection', 'docs', '--create', '--metric', 'l2', '--shards', '3', '--batch-size', '128');
  assert.equal(out.code, 0, out.stderr);
  const info = (await stack.app.listCollections()).find((c) => c.name === 'docs')!;
  assert.deepEqual([info.dims, info.metric, info.shards, info.vectors], [5, 'l2', 3, 300]);
  await assertRow('docs', '0', rows[0]!);
  await assertRow('docs', 'doc-1', rows[1]!, { n: 1, tag: 'x' });
  await assertRow('docs', 'doc-299', rows[299]!, { n: 299, tag: 'x' });
});

test('csv with a header, quoted vectors and a payload spanning two lines', async () => {
  const rows = vectors(50, 4, 3);
  const csv = ['id,vector,payload', ...rows.map((v, i) => {
    const payload = i === 7 ? '"{""note"": ""a, b"",\n ""i"": 7}"' : i % 2 ? `"{""i"": ${i}}"` : '';
    return `row-${i},"[${Array.from(v).join(',')}]",${payload}`;
  })].join('\r\n');
  const file = join(dir, 'rows.csv');
  writeFileSync(file, csv);
  const out = await load(file, '--collection', 'csvrows', '--create', '--metric', 'l2', '--batch-size', '20');
  assert.equal(out.code, 0, out.stderr);
  assert.equal(await count('csvrows'), 50);
  await assertRow('csvrows', 'row-0', rows[0]!);
  await assertRow('csvrows', 'row-7', rows[7]!, { note: 'a, b', i: 7 });
  await assertRow('csvrows', 'row-49', rows[49]!, { i: 49 });
});

test('a missing collection, and a bad row: the error says which rows are loaded', async () => {
  const file = join(dir, 'bad.jsonl');
  const good = vectors(12, 3, 4);
  const lines = good.map((v, i) => JSON.stringify({ id: i, vector: i === 7 ? [1, 2] : Array.from(v) }));
  writeFileSync(file, lines.join('\n'));
  const missing = await load(file, '--collection', 'nope');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /collection "nope" does not exist .*--create/);

  await stack.app.createCollection({ name: 'bad', dims: 3, metric: 'l2', owner: ROLES.scram.user });
  const out = await load(file, '--collection', 'bad', '--batch-size', '5');
  assert.equal(out.code, 1, out.stderr);
  // The row number comes from the proxy's CONTEXT `line N` (counted within the failing statement):
  // the 8th row is line 3 of the second batch of 5.
  assert.match(out.stderr, /expected 3 dimensions, not 2 \[22000\] \(row 8 of the file's data rows\)/);
  assert.match(out.stderr, /the first 5 rows are loaded/);
  assert.equal(await count('bad'), 5);
});

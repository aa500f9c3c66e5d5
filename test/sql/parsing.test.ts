// The SQL surface's pure parts, without PostgreSQL: vector input in every form, COPY data split at
// every byte offset, and which statements the classifier plans locally.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { parseVectorBinary, parseVectorText } from '../../src/sql/vector-input.ts';
import { copyParser, type CopyOptions } from '../../src/sql/copy-format.ts';
import { Classifier, loadParser } from '../../src/sql/classify.ts';
import { makeConfig } from '../../src/config.ts';
import type { ParamValue } from '../../src/sql/local-plan.ts';
import { arraySend, copyBinary } from './sql-helpers.ts';
import { seeded, randomInt } from '../helpers/random.ts';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? 'no code';
  }
  return 'no error';
}

test('vector text: pgvector form, array form, quoted elements, exponents', () => {
  assert.deepEqual([...parseVectorText('[1, 2.5,-3]')], [1, 2.5, -3]);
  assert.deepEqual([...parseVectorText(' {1,2,3} ')], [1, 2, 3]);
  assert.deepEqual([...parseVectorText('{"1","2.5","-3e2"}')], [1, 2.5, -300]);
  assert.deepEqual([...parseVectorText('[.5,1.,+2]')], [0.5, 1, 2]);
});

test('vector text: malformed is 22P02, NaN/Inf/empty are 22000', () => {
  for (const bad of ['1,2', '[1,2', '[1,,2]', '[1,a]', '{1,NULL}', '[[1,2]]', '']) assert.equal(code(() => parseVectorText(bad)), '22P02', bad);
  for (const bad of ['[NaN,1]', '[1,Infinity]', '[-inf]', '[]', '{}', '[1e39]']) assert.equal(code(() => parseVectorText(bad)), '22000', bad);
});

test('vector text: every spelling of a number gives what Number() gives, rounded to real (seeded)', () => {
  const random = seeded(20261129);
  const spell = (v: number): string => {
    switch (randomInt(random, 6)) {
      case 0: return String(v);
      case 1: return v.toExponential(randomInt(random, 9));
      case 2: return v.toFixed(randomInt(random, 12));
      case 3: return (v >= 0 ? '+' : '') + v.toPrecision(1 + randomInt(random, 16));
      case 4: return ` ${String(v).replace(/^0\./, '.').replace(/^-0\./, '-.')} `;
      default: return v.toExponential().toUpperCase();
    }
  };
  for (let trial = 0; trial < 2000; trial++) {
    const dims = 1 + randomInt(random, 40);
    const values = Array.from({ length: dims }, () => (random() - 0.5) * 10 ** (randomInt(random, 20) - 10));
    const spelled = values.map(spell);
    const text = `[${spelled.join(',')}]`;
    assert.deepEqual([...parseVectorText(text)], [...Float32Array.from(spelled, Number)], text);
  }
});

test('vector text: near misses of a number are 22P02, whichever path reads them', () => {
  for (const bad of ['[1e]', '[1e+]', '[--1]', '[1.2.3]', '[.]', '[+]', '[1 2]', '[0x10]', '[1_000]', '[1,]', '[,1]', '[1e5e5]']) {
    assert.equal(code(() => parseVectorText(bad)), '22P02', bad);
  }
  assert.equal(code(() => parseVectorText('[1e39,1]')), '22000', 'out of range for real');
  assert.deepEqual([...parseVectorText('[\t1,2\n]')], [1, 2], 'other whitespace takes the slow path');
});

test('vector binary: real[] and float8[] array_send, pgvector vector_send; bad headers 22P03', () => {
  assert.deepEqual([...parseVectorBinary(arraySend([1, -2.5, 3], 'float4'))], [1, -2.5, 3]);
  assert.deepEqual([...parseVectorBinary(arraySend([1, -2.5, 3], 'float8'))], [1, -2.5, 3]);
  const vec = Buffer.alloc(4 + 8);
  vec.writeUInt16BE(2, 0);
  vec.writeFloatBE(0.5, 4);
  vec.writeFloatBE(7, 8);
  assert.deepEqual([...parseVectorBinary(vec)], [0.5, 7]);
  assert.equal(code(() => parseVectorBinary(arraySend([1, 2], 'float4').subarray(0, 23))), '22P03');
  assert.equal(code(() => parseVectorBinary(Buffer.from([1, 2, 3]))), '22P03');
  assert.equal(code(() => parseVectorBinary(arraySend([1, NaN], 'float4'))), '22000');
});

const ROWS: [string, string, string | null][] = [
  ['a', '[1,2,3]', '{"t":"x\\ty"}'],
  ['b\tc', '{4,5,6}', null],
  ['d,"e"', '[7,8,9]', '{"q":"a,b\\nc"}'],
];

function textData(): Buffer {
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');
  return Buffer.from(ROWS.map((r) => r.map((f) => (f === null ? '\\N' : esc(f))).join('\t') + '\n').join('') + '\\.\n');
}

function csvData(): Buffer {
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return Buffer.from('id,vector,payload\r\n' + ROWS.map((r) => r.map((f) => (f === null ? '' : q(f))).join(',')).join('\r\n'));
}

function decoded(rows: ParamValue[][]): (string | null)[][] {
  return rows.map((r) => r.map((f) => (f.value === null ? null : f.value.toString('utf8'))));
}

function parseSplit(options: CopyOptions, data: Buffer, at: number): ParamValue[][] {
  const parser = copyParser(options, 1 << 20);
  return [...parser.push(data.subarray(0, at)), ...parser.push(data.subarray(at)), ...parser.end()].map((row) => row.fields);
}

test('COPY text and csv: the same rows whichever byte the data is split at', () => {
  const text: CopyOptions = { format: 'text', delimiter: '\t', nullText: '\\N', header: false };
  const csv: CopyOptions = { format: 'csv', delimiter: ',', nullText: '', header: true };
  for (const [options, data] of [[text, textData()], [csv, csvData()]] as const) {
    for (let at = 0; at <= data.length; at++) assert.deepEqual(decoded(parseSplit(options, data, at)), ROWS, `${options.format} split at ${at}`);
  }
});

test('COPY binary: the same rows whichever byte the data is split at, vectors as array_send', () => {
  const data = copyBinary(ROWS.map(([id, v, p]) => [id, parseVectorText(v), p]));
  const binary: CopyOptions = { format: 'binary', delimiter: '', nullText: '', header: false };
  for (let at = 0; at <= data.length; at++) {
    const rows = parseSplit(binary, data, at);
    assert.deepEqual(rows.map((r) => r[0]!.value!.toString()), ROWS.map((r) => r[0]), `split at ${at}`);
    assert.deepEqual(rows.map((r) => [...parseVectorBinary(r[1]!.value!)]), ROWS.map((r) => [...parseVectorText(r[1])]));
    assert.deepEqual(rows.map((r) => (r[2]!.value === null ? null : r[2]!.value.toString('utf8', 1))), ROWS.map((r) => r[2]));
  }
});

test('COPY data errors: unterminated quote, truncated binary, overlong row', () => {
  const csv: CopyOptions = { format: 'csv', delimiter: ',', nullText: '', header: false };
  assert.equal(code(() => { const p = copyParser(csv, 100); p.push(Buffer.from('a,"[1]')); p.end(); }), '22P04');
  const binary: CopyOptions = { format: 'binary', delimiter: '', nullText: '', header: false };
  assert.equal(code(() => { const p = copyParser(binary, 100); p.push(Buffer.from('PGCOPY\n')); p.end(); }), '22P04');
  assert.equal(code(() => copyParser(binary, 100).push(Buffer.from('NOTCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1'))), '22P04');
  const text: CopyOptions = { format: 'text', delimiter: '\t', nullText: '\\N', header: false };
  assert.equal(code(() => copyParser(text, 10).push(Buffer.from('a'.repeat(11)))), '54000');
});

let classifier: Classifier;
before(async () => {
  await loadParser();
  classifier = new Classifier(makeConfig());
});

function route(sql: string): string {
  const c = classifier.classify(sql, 'app');
  if (c.route === 'upstream') return 'upstream';
  const part = c.parts[0]!;
  return part.error ? `error ${part.error.code}` : 'local';
}

test('classifier: the accepted shapes are local, what the proxy cannot evaluate is 0A000, the rest passes through', () => {
  assert.equal(route(`SELECT vector_upsert('d', 'a', '[1]')`), 'local');
  assert.equal(route(`SELECT vector_upsert('d', 'a', '[1]') AS n`), 'local');
  assert.equal(route(`SELECT * FROM vector_search('d', $1, k => 5, filter => '{}'::jsonb) AS s (i, dist)`), 'local');
  assert.equal(route(`SELECT s.id, distance AS d FROM vector_search('d', ARRAY[1,2], 5) s`), 'local');
  assert.equal(route(`SELECT * FROM vector_collections()`), 'local');
  assert.equal(route(`SET vectorgate.ef_search = 40`), 'local');
  assert.equal(route(`SHOW vectorgate.ef_search`), 'local');
  assert.equal(route(`SELECT * FROM vector_search('d', (SELECT '[1]'), 5)`), 'error 0A000');
  assert.equal(route(`SELECT vector_search('d', '[1]', 5)`), 'error 0A000');
  assert.equal(route(`SELECT nope FROM vector_search('d', '[1]', 5)`), 'error 42703');
  assert.equal(route(`SELECT vector_upsert('d')`), 'error 42883');
  assert.equal(route(`SELECT * FROM vector_search('d', '[1]', k => 5, k => 6)`), 'error 42601');
  assert.equal(route(`SET vectorgate.nope = 1`), 'error 42704');
  assert.equal(route(`SET LOCAL vectorgate.ef_search = 1`), 'local');
  assert.equal(route(`SELECT 'vector'`), 'upstream');
  assert.equal(route(`COPY items FROM STDIN`), 'upstream');
  assert.equal(route(`SET search_path = vectors`), 'upstream');
});

test('classifier: parameter types reported for $n by argument, or by the cast', () => {
  const types = (sql: string) => {
    const c = classifier.classify(sql, 'app');
    assert.equal(c.route, 'local');
    return (c as { parts: { plan: { paramTypes: number[] } }[] }).parts[0]!.plan.paramTypes;
  };
  assert.deepEqual(types(`SELECT * FROM vector_search($1, $2, $3, filter => $4, ef => $5, query_text => $6)`), [25, 1021, 23, 3802, 23, 25]);
  assert.deepEqual(types(`SELECT * FROM vector_search('d', $1::float8[], $2::int8)`), [1022, 20]);
  assert.deepEqual(types(`SELECT vector_upsert($1, $2::jsonb)`), [25, 3802]);
  assert.deepEqual(types(`SELECT vector_upsert($1, $2, $3::vector, $4)`), [25, 25, 25, 3802]);
});

// Quantized collections through the proxy: int8 and binary are refused where they cannot work (22023,
// the session goes on); vectorgate.rescore and vectorgate.oversample resolve from SET, SET LOCAL,
// vector_set_policy and the server default, bad values are 22023, and EXPLAIN shows the oversample and
// the candidates each shard asked its index for; rescore off finds fewer true neighbours on binary.
import { DEFAULTS } from '../../src/config.ts';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { bruteForce, DATA_DIR, readFvecs, recallAt, row } from '../engine/helpers/data.ts';

const ROWS = 3000;
const QUERIES = 30;
const base = readFvecs(join(DATA_DIR, 'glove-100/base.fvecs'), ROWS);
const queries = readFvecs(join(DATA_DIR, 'glove-100/query.fvecs'), QUERIES);
const truth = bruteForce(base, queries, 10, 'cosine');
let stack: Stack;
let client: pg.Client;

before(async () => {
  // Each write indexed before its ack (not in inline steps), so the answers measure the HNSW index.
  stack = await startStack({ config: { inlineIndexStepRows: DEFAULTS.maxBatchRows } });
  const rows = Array.from({ length: ROWS }, (_, i) => ({ id: String(i), vector: row(base, i) }));
  for (const [name, quantization] of [['q8', 'int8'], ['qb', 'binary']] as const) {
    await stack.app.createCollection({ name, dims: 100, metric: 'cosine', quantization, shards: 2, owner: ROLES.scram.user });
    await stack.app.upsert(name, rows);
  }
  client = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
});
after(async () => {
  await client?.end();
  await stack?.stop();
});

const text = (v: Float32Array) => `[${Array.from(v).join(',')}]`;
async function sqlError(sql: string): Promise<{ code?: string; message: string }> {
  try { await client.query(sql); } catch (err) { return err as { code?: string; message: string }; }
  return { message: 'no error' };
}
async function plan(sql: string): Promise<string> {
  return (await client.query(sql)).rows.map((r) => r['QUERY PLAN'] as string).join('\n');
}
const explainSearch = (name: string) => plan(`EXPLAIN SELECT * FROM vector_search('${name}', '${text(row(queries, 0))}', 10)`);
const candidatesOf = (explained: string) => [...explained.matchAll(/-> Shard \d: hnsw \(\d+ rows, candidates (\d+),/g)].map((m) => Number(m[1]));

test('int8 and binary with l2 or ip, and int8 on hnswlib, are refused with 22023 saying why; the session goes on', async () => {
  const refusals: [string, RegExp][] = [
    [`SELECT vector_create_collection('bad', 4, metric => 'l2', quantization => 'int8')`, /int8 quantization needs metric cosine: usearch's int8 scales each vector into \[-1, 1\]/],
    [`SELECT vector_create_collection('bad', 4, metric => 'l2', quantization => 'binary')`, /binary quantization needs metric cosine/],
    [`SELECT vector_create_collection('bad', 4, metric => 'ip', quantization => 'binary')`, /binary quantization needs metric cosine.*use f16 or none for ip/],
    [`SELECT vector_create_collection('bad', 4, metric => 'cosine', quantization => 'int8', engine => 'hnswlib')`, /the hnswlib engine has no quantization: use usearch for f16, int8 or binary/],
  ];
  for (const [sql, message] of refusals) {
    const err = await sqlError(sql);
    assert.equal(err.code, '22023', sql);
    assert.match(err.message, message);
  }
  assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
  const listed = (await client.query(`SELECT name, quantization FROM vector_collections() ORDER BY name`)).rows;
  assert.deepEqual(listed, [{ name: 'q8', quantization: 'int8' }, { name: 'qb', quantization: 'binary' }]);
});

test('SET vectorgate.oversample and vector_set_policy refuse bad values with 22023; SHOW gives the canonical value', async () => {
  assert.equal((await client.query('SHOW vectorgate.oversample')).rows[0]['vectorgate.oversample'], 'auto');
  assert.equal((await client.query('SHOW vectorgate.rescore')).rows[0]['vectorgate.rescore'], 'on');
  for (const sql of ['SET vectorgate.oversample = 0', 'SET vectorgate.oversample = 0.5', `SET vectorgate.oversample = 'lots'`, `SET vectorgate.oversample = ${stack.collections.config.maxOversample + 1}`,
    'SET LOCAL vectorgate.oversample = -2', `SET vectorgate.rescore = 'sometimes'`, `SELECT vector_set_policy('qb', 'oversample', '0')`]) {
    assert.equal((await sqlError(sql)).code, '22023', sql);
  }
  await client.query('SET vectorgate.oversample = 2.50');
  assert.equal((await client.query('SHOW vectorgate.oversample')).rows[0]['vectorgate.oversample'], '2.5');
  await client.query('RESET vectorgate.oversample');
  assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
});

test('EXPLAIN shows the oversample and where it came from, and the candidates each shard asked for', async () => {
  const { defaultOversampleBinary, defaultOversampleInt8 } = stack.collections.config;
  const auto = await explainSearch('qb');
  assert.match(auto, new RegExp(`Rescore: on \\(from server default\\), oversample auto = ${defaultOversampleBinary} for binary \\(from server default\\)`));
  assert.deepEqual(candidatesOf(auto), [10 * defaultOversampleBinary, 10 * defaultOversampleBinary]);
  assert.deepEqual(candidatesOf(await explainSearch('q8')), [10 * defaultOversampleInt8, 10 * defaultOversampleInt8]);

  await client.query(`SELECT vector_set_policy('qb', 'oversample', '4')`);
  const stored = await explainSearch('qb');
  assert.match(stored, /oversample 4 \(from collection policy\)/);
  assert.deepEqual(candidatesOf(stored), [40, 40]);
  await client.query('SET vectorgate.oversample = 3');
  assert.deepEqual(candidatesOf(await explainSearch('qb')), [30, 30], 'SET beats the collection policy');
  await client.query('BEGIN');
  await client.query('SET LOCAL vectorgate.rescore = off');
  const off = await explainSearch('qb');
  await client.query('COMMIT');
  assert.match(off, /Rescore: off \(from SET LOCAL\); each shard keeps the index's own k candidates, no oversampling/);
  assert.deepEqual(candidatesOf(off), [10, 10]);
  await client.query('RESET vectorgate.oversample');
  await client.query(`SELECT vector_set_policy('qb', 'oversample', 'auto')`);
  assert.deepEqual(candidatesOf(await explainSearch('qb')), [10 * defaultOversampleBinary, 10 * defaultOversampleBinary]);
});

test('binary: rescore off finds fewer true neighbours than on; distances are exact either way', async () => {
  const recall = async () => {
    const found: number[][] = [];
    for (let q = 0; q < QUERIES; q++) {
      const res = await client.query({ name: 'knn', text: 'SELECT id, distance FROM vector_search($1, $2, 10)', values: ['qb', text(row(queries, q))] });
      found.push(res.rows.map((r) => Number(r.id)));
      const [first] = res.rows;
      assert.ok(Math.abs(first.distance - exactCosine(row(queries, q), row(base, Number(first.id)))) < 1e-5, 'an exact 1 - cos');
    }
    return recallAt(10, truth, found);
  };
  const on = await recall();
  await client.query('SET vectorgate.rescore = off');
  const off = await recall();
  await client.query('RESET vectorgate.rescore');
  assert.ok(off < on, `rescore off ${off} < on ${on}`);
  assert.ok(on >= 0.95, `recall@10 with rescoring ${on}`);
});

function exactCosine(a: Float32Array, b: Float32Array): number {
  let dot = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i]! * b[i]!; aa += a[i]! * a[i]!; bb += b[i]! * b[i]!; }
  return 1 - dot / Math.sqrt(aa * bb);
}

// Recall through SQL: siftsmall (10k × 128, L2) loaded with COPY binary into 4 shards, searched with a
// prepared vector_search from node-postgres; and filtered search at 1% selectivity returning exactly k
// rows, equal to the exact filtered answer.
import { DEFAULTS } from '../../src/config.ts';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { join } from 'node:path';
import { DATA_DIR } from '../engine/helpers/data.ts';
import { copyBinary, readVecs } from './sql-helpers.ts';

const DATA = join(DATA_DIR, 'siftsmall');
const K = 10;
const BUCKETS = 100;
let stack: Stack;
let client: pg.Client;
let base: Float32Array[];
let queries: Float32Array[];
let truth: Int32Array[];

before(async () => {
  base = readVecs(`${DATA}/base.fvecs`, 'f') as Float32Array[];
  queries = readVecs(`${DATA}/query.fvecs`, 'f') as Float32Array[];
  truth = readVecs(`${DATA}/gt_l2.ivecs`, 'i') as Int32Array[];
  // Each write indexed before its ack (not in inline steps), so the answers measure the HNSW index.
  stack = await startStack({ config: { inlineIndexStepRows: DEFAULTS.maxBatchRows } });
  client = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
  await client.query(`SELECT vector_create_collection('sift', 128, metric => 'l2', shards => 4)`);
  const rows = base.map((v, i): [string, Float32Array, string] => [String(i), v, JSON.stringify({ bucket: i % BUCKETS })]);
  const data = copyBinary(rows);
  const chunks = Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536));
  await pipeline(Readable.from(chunks), client.query(copyFrom('COPY sift FROM STDIN (FORMAT binary)')));
});
after(async () => {
  await client?.end();
  await stack?.stop();
});

function toText(v: Float32Array): string {
  return `[${Array.from(v).join(',')}]`;
}

test('siftsmall through SQL: every row loaded, recall@10 ≥ 0.95 at default settings with 4 shards', async () => {
  const listed = (await client.query(`SELECT vectors, shards FROM vector_collections()`)).rows[0];
  assert.deepEqual(listed, { vectors: String(base.length), shards: 4 });
  let found = 0;
  for (const [i, q] of queries.entries()) {
    const res = await client.query({ name: 'knn', text: 'SELECT id FROM vector_search($1, $2, $3)', values: ['sift', toText(q), K] });
    assert.equal(res.rowCount, K);
    const want = new Set(Array.from(truth[i]!.subarray(0, K), String));
    found += res.rows.filter((r) => want.has(r.id)).length;
  }
  const recall = found / (queries.length * K);
  assert.ok(recall >= 0.95, `recall@10 ${recall}`);
});

function exactFiltered(q: Float32Array, bucket: number): string[] {
  const scored: { id: number; d: number }[] = [];
  for (let i = bucket; i < base.length; i += BUCKETS) {
    let d = 0;
    for (let j = 0; j < q.length; j++) d += (q[j]! - base[i]![j]!) ** 2;
    scored.push({ id: i, d });
  }
  scored.sort((a, b) => a.d - b.d || a.id - b.id);
  return scored.slice(0, K).map((s) => String(s.id));
}

test('filtered search at 1% selectivity returns exactly k rows, equal to exact filtered search', async () => {
  for (const [i, q] of queries.slice(0, 20).entries()) {
    const bucket = (i * 37) % BUCKETS;
    const res = await client.query('SELECT id, payload FROM vector_search($1, $2, $3, filter => $4)', ['sift', toText(q), K, { bucket }]);
    assert.equal(res.rowCount, K);
    assert.ok(res.rows.every((r) => r.payload.bucket === bucket));
    assert.deepEqual(res.rows.map((r) => r.id), exactFiltered(q, bucket), `query ${i}`);
  }
});

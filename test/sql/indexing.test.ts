// With shardHost 'inline', rows join the HNSW index after their write is acknowledged, in steps: a
// COPY's rows are found at once (scored exactly until indexed), vector_collections() says how many
// are indexed, and that count reaches every row while the session goes on. With shardHost 'threads'
// (the default) a write is indexed before its ack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { DEFAULTS } from '../../src/config.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { randomVectors, rng } from '../engine/helpers/data.ts';
import { copyBinary } from './sql-helpers.ts';

const DIMS = 32;
const ROWS = 4000;
const vectors = randomVectors(rng(41), ROWS, DIMS);
const vectorAt = (i: number) => vectors.subarray(i * DIMS, (i + 1) * DIMS);
const text = (v: Float32Array) => `[${Array.from(v).join(',')}]`;

async function withStack(config: Parameters<typeof startStack>[0], fn: (client: pg.Client) => Promise<void>): Promise<void> {
  const stack: Stack = await startStack(config);
  const client = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  try {
    await client.connect();
    await client.query(`SELECT vector_create_collection('docs', ${DIMS}, metric => 'l2')`);
    const rows = Array.from({ length: ROWS }, (_, i): [string, Float32Array, string | null] => [String(i), vectorAt(i), null]);
    await pipeline(Readable.from([copyBinary(rows)]), client.query(copyFrom('COPY docs FROM STDIN (FORMAT binary)')));
    await fn(client);
  } finally {
    await client.end().catch(() => undefined);
    await stack.stop();
  }
}

const counts = async (client: pg.Client) => {
  const { rows } = await client.query(`SELECT vectors::int, indexed_vectors::int FROM vector_collections() WHERE name = 'docs'`);
  return rows[0] as { vectors: number; indexed_vectors: number };
};

test('inline: a COPY of 4,000 rows is searchable at once, and indexed_vectors climbs to every row', async () => {
  assert.ok(ROWS > DEFAULTS.inlineIndexStepRows, 'the COPY is larger than one indexing step');
  await withStack({ config: { shardHost: 'inline' } }, async (client) => {
    const first = await counts(client);
    assert.equal(first.vectors, ROWS);
    assert.ok(first.indexed_vectors >= 0 && first.indexed_vectors <= ROWS, `indexed ${first.indexed_vectors}`);
    for (const i of [0, ROWS - 1, 1234]) {
      const { rows } = await client.query(`SELECT id, distance FROM vector_search('docs', $1, 1)`, [text(vectorAt(i))]);
      assert.deepEqual(rows, [{ id: String(i), distance: 0 }], `row ${i} is found at its own vector, indexed or not`);
    }
    const deadline = Date.now() + 60_000;
    let now = first;
    while (now.indexed_vectors < ROWS && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      now = await counts(client);
    }
    assert.deepEqual(now, { vectors: ROWS, indexed_vectors: ROWS });
    const plan = (await client.query(`EXPLAIN ANALYZE SELECT * FROM vector_search('docs', '${text(vectorAt(7))}', 10)`)).rows.map((r) => r['QUERY PLAN']).join('\n');
    const rescored = /(\d+) rescored/.exec(plan);
    assert.ok(rescored !== null, plan);
    assert.ok(Number(rescored[1]) < ROWS, `once indexed, a search scores its candidates, not every row:\n${plan}`);
  });
});

test('threads: a write is indexed before its ack', async () => {
  assert.equal(DEFAULTS.shardHost, 'threads');
  await withStack({}, async (client) => {
    assert.deepEqual(await counts(client), { vectors: ROWS, indexed_vectors: ROWS });
  });
});

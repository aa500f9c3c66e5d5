// Composed statements through node-postgres: vector functions as FROM items of joins, CTEs, subqueries,
// aggregates, INSERT … SELECT and CREATE TABLE AS, as simple queries and as parameterized (extended
// protocol) ones, named statements re-executed with new parameters. Every answer is compared with the
// two-step answer: the search alone, then the relational part in JS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { DATABASE } from '../helpers/cluster.ts';
import { randomInt } from '../helpers/random.ts';
import { startFixture, searchAlone, joinDocs, randomVector, vectorText, proxyConfig, docId, type Fixture, type Hit } from './fixture.ts';

const TEXT = 25;
const BOOL = 16;
const FLOAT4 = 700;
const FLOAT8 = 701;
const INT8 = 20;
const JSONB = 3802;
const FLOAT4_ARRAY = 1021;

let fx: Fixture;
let client: pg.Client;

before(async () => {
  fx = await startFixture(4001);
  client = new pg.Client(proxyConfig(fx.stack));
  await client.connect();
});
after(async () => {
  await client?.end();
  await fx?.stop();
});

const JOIN_SQL = (v: string, k: number) => `SELECT d.id, d.title, s.distance FROM vector_search('docs', '${v}', ${k}) AS s
  JOIN documents d ON d.id = s.id WHERE d.published ORDER BY s.distance LIMIT 5`;

test('simple: join with a table, WHERE on the table, ORDER BY distance, LIMIT', async () => {
  for (let round = 0; round < 3; round++) {
    const v = randomVector(fx.random);
    const k = 10 + randomInt(fx.random, 20);
    const result = await client.query(JOIN_SQL(vectorText(v), k));
    const expected = joinDocs(fx, await searchAlone(fx, 'docs', v, k), (d) => d.published).slice(0, 5);
    assert.ok(expected.length > 0, 'the seed gives published documents among the hits');
    assert.deepEqual(result.rows, expected.map(({ hit, doc }) => ({ id: doc.id, title: doc.title, distance: hit.distance })));
    assert.deepEqual(result.fields.map((f) => [f.name, f.dataTypeID]), [['id', TEXT], ['title', TEXT], ['distance', FLOAT4]]);
  }
});

test('prepared: a named statement re-executed with new vector, k and table parameters', async () => {
  // The first execution sends Parse; the later ones only Bind/Execute the same statement name.
  const text = `SELECT d.id, d.title, d.published, s.distance, s.payload FROM vector_search('docs', $1, $2) AS s
    JOIN documents d ON d.id = s.id WHERE d.published = $3 ORDER BY s.distance`;
  for (let round = 0; round < 6; round++) {
    const v = randomVector(fx.random);
    const k = 5 + randomInt(fx.random, 30);
    const published = round % 2 === 0;
    const result = await client.query({ name: 'compose-join', text, values: [vectorText(v), k, published] });
    const expected = joinDocs(fx, await searchAlone(fx, 'docs', v, k), (d) => d.published === published);
    assert.deepEqual(result.rows, expected.map(({ hit, doc }) => ({ id: doc.id, title: doc.title, published, distance: hit.distance, payload: hit.payload })));
    assert.deepEqual(result.fields.map((f) => f.dataTypeID), [TEXT, TEXT, BOOL, FLOAT4, JSONB]);
  }
});

test('CTE and subquery in FROM, simple and parameterized', async () => {
  const v = randomVector(fx.random);
  const hits = await searchAlone(fx, 'docs', v, 25);
  const expected = joinDocs(fx, hits, (d) => d.lang === 'en').map(({ hit, doc }) => ({ id: doc.id, title: doc.title, distance: hit.distance }));
  const cte = `WITH near AS (SELECT id, distance FROM vector_search('docs', $1, 25))
    SELECT d.id, d.title, near.distance FROM near JOIN documents d USING (id) WHERE d.lang = $2 ORDER BY near.distance`;
  assert.deepEqual((await client.query(cte, [vectorText(v), 'en'])).rows, expected);
  const subquery = `SELECT d.id, d.title, x.distance FROM documents d
    JOIN (SELECT id, distance FROM vector_search('docs', '${vectorText(v)}', 25) WHERE distance >= 0) AS x ON x.id = d.id
    WHERE d.lang = 'en' ORDER BY x.distance`;
  assert.deepEqual((await client.query(subquery)).rows, expected);
  // Also as a scalar subquery under WHERE, which is still a FROM item of its subselect.
  const inWhere = `SELECT id, title FROM documents WHERE id IN (SELECT id FROM vector_search('docs', $1, 25)) AND lang = 'en' ORDER BY id`;
  assert.deepEqual((await client.query(inWhere, [vectorText(v)])).rows,
    expected.map(({ id, title }) => ({ id, title })).sort((a, b) => a.id.localeCompare(b.id)));
});

test('aggregates: count, avg(distance), GROUP BY payload->>lang, simple and prepared', async () => {
  const v = randomVector(fx.random);
  const hits = await searchAlone(fx, 'docs', v, 60);
  const groups = new Map<string, Hit[]>();
  for (const hit of hits) groups.set(hit.payload.lang, [...(groups.get(hit.payload.lang) ?? []), hit]);
  const expected = [...groups].sort(([a], [b]) => a.localeCompare(b)).map(([lang, group]) => ({
    // PostgreSQL averages the exact float4 values; the text form node-postgres parsed is their shortest spelling.
    lang, n: String(group.length), avg: group.reduce((sum, h) => sum + Math.fround(h.distance), 0) / group.length,
  }));
  const sql = (vector: string) => `SELECT s.payload->>'lang' AS lang, count(*) AS n, avg(s.distance) AS avg
    FROM vector_search('docs', ${vector}, 60) s GROUP BY 1 ORDER BY 1`;
  for (const result of [await client.query(sql(`'${vectorText(v)}'`)), await client.query({ name: 'compose-agg', text: sql('$1'), values: [vectorText(v)] })]) {
    assert.deepEqual(result.fields.map((f) => f.dataTypeID), [TEXT, INT8, FLOAT8]);
    assert.deepEqual(result.rows.map((r) => ({ lang: r.lang, n: r.n })), expected.map(({ lang, n }) => ({ lang, n })));
    // avg over float4 values is summed in float8 by PostgreSQL; only the summation order may differ.
    result.rows.forEach((row, i) => assert.ok(Math.abs(row.avg - expected[i]!.avg) < 1e-12, `${row.avg} vs ${expected[i]!.avg}`));
  }
  const joined = await client.query(`SELECT count(*) AS n, count(*) FILTER (WHERE d.published) AS published
    FROM vector_search('docs', '${vectorText(v)}', 60) s JOIN documents d USING (id)`);
  const pairs = joinDocs(fx, hits);
  assert.deepEqual(joined.rows, [{ n: String(pairs.length), published: String(pairs.filter((p) => p.doc.published).length) }]);
});

test('INSERT INTO … SELECT … FROM vector_search, simple and prepared', async () => {
  await client.query('CREATE TABLE hits (query int, id text, distance real, title text)');
  const vectors = [randomVector(fx.random), randomVector(fx.random), randomVector(fx.random)];
  const simple = await client.query(`INSERT INTO hits SELECT 0, s.id, s.distance, d.title
    FROM vector_search('docs', '${vectorText(vectors[0]!)}', 12) s LEFT JOIN documents d USING (id)`);
  assert.equal(simple.command, 'INSERT');
  assert.equal(simple.rowCount, 12);
  for (const q of [1, 2]) {
    const prepared = await client.query({
      name: 'compose-insert',
      text: `INSERT INTO hits SELECT $3, s.id, s.distance, d.title FROM vector_search('docs', $1, $2) s LEFT JOIN documents d USING (id)`,
      values: [vectorText(vectors[q]!), 7 + q, q],
    });
    assert.equal(prepared.rowCount, 7 + q);
  }
  const admin = await fx.stack.cluster.admin(DATABASE);
  try {
    for (const [q, k] of [[0, 12], [1, 8], [2, 9]] as const) {
      const stored = await admin.query('SELECT id, distance, title FROM hits WHERE query = $1 ORDER BY distance, id', [q]);
      const hits = await searchAlone(fx, 'docs', vectors[q]!, k);
      assert.deepEqual(stored.rows, hits.map((h) => ({ id: h.id, distance: h.distance, title: fx.docs.get(h.id)?.title ?? null })));
    }
  } finally {
    await admin.end();
  }
});

test('CREATE TABLE AS SELECT … FROM vector_search joined with the table: rows and column types', async () => {
  const v = randomVector(fx.random);
  const created = await client.query(`CREATE TABLE t2 AS SELECT s.id, s.distance, s.payload, d.published
    FROM vector_search('docs', '${vectorText(v)}', 15) s JOIN documents d USING (id)`);
  const expected = joinDocs(fx, await searchAlone(fx, 'docs', v, 15));
  assert.equal(created.rowCount, expected.length);
  const admin = await fx.stack.cluster.admin(DATABASE);
  try {
    const rows = await admin.query('SELECT * FROM t2 ORDER BY distance, id');
    assert.deepEqual(rows.rows, expected.map(({ hit, doc }) => ({ id: hit.id, distance: hit.distance, payload: hit.payload, published: doc.published })));
    const types = await admin.query(`SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 't2' ORDER BY ordinal_position`);
    assert.deepEqual(types.rows.map((r) => `${r.column_name} ${r.data_type}`), ['id text', 'distance real', 'payload jsonb', 'published boolean']);
  } finally {
    await admin.end();
  }
});

test('two vector_search calls in one statement: UNION and a join of two searches', async () => {
  const a = randomVector(fx.random);
  const b = randomVector(fx.random);
  const [hitsA, hitsB] = [await searchAlone(fx, 'docs', a, 40), await searchAlone(fx, 'docs', b, 40)];
  const union = [...new Set([...hitsA.slice(0, 6), ...hitsB.slice(0, 8)].map((h) => h.id))].sort();
  const unionSql = (x: string, y: string) => `SELECT id FROM vector_search('docs', ${x}, 6) UNION SELECT id FROM vector_search('docs', ${y}, 8) ORDER BY id`;
  assert.deepEqual((await client.query(unionSql(`'${vectorText(a)}'`, `'${vectorText(b)}'`))).rows.map((r) => r.id), union);
  assert.deepEqual((await client.query({ name: 'compose-union', text: unionSql('$1', '$2'), values: [vectorText(a), vectorText(b)] })).rows.map((r) => r.id), union);
  // Swapping the parameters of the same named statement swaps which search gets which k.
  const swapped = [...new Set([...hitsB.slice(0, 6), ...hitsA.slice(0, 8)].map((h) => h.id))].sort();
  assert.deepEqual((await client.query({ name: 'compose-union', text: unionSql('$1', '$2'), values: [vectorText(b), vectorText(a)] })).rows.map((r) => r.id), swapped);

  const byId = new Map(hitsB.map((h) => [h.id, h]));
  const both = hitsA.filter((h) => byId.has(h.id)).map((h) => ({ id: h.id, da: h.distance, db: byId.get(h.id)!.distance }))
    .sort((x, y) => x.da + x.db - (y.da + y.db) || x.id.localeCompare(y.id));
  const joined = await client.query(`SELECT a.id, a.distance AS da, b.distance AS db
    FROM vector_search('docs', $1, 40) a JOIN vector_search('docs', $2, 40) b ON a.id = b.id ORDER BY a.distance + b.distance, a.id`,
  [vectorText(a), vectorText(b)]);
  assert.deepEqual(joined.rows, both);
});

test('an empty collection: empty joins with the right column types, outer joins keep every row', async () => {
  const v = vectorText(randomVector(fx.random));
  const inner = await client.query(`SELECT d.id, s.distance, s.payload FROM vector_search('empty', '${v}', 5) s JOIN documents d ON d.id = s.id`);
  assert.deepEqual(inner.rows, []);
  assert.deepEqual(inner.fields.map((f) => [f.name, f.dataTypeID]), [['id', TEXT], ['distance', FLOAT4], ['payload', JSONB]]);
  const prepared = await client.query({ name: 'compose-empty', text: `SELECT s.*, d.title FROM vector_search($1, $2, $3) s JOIN documents d USING (id)`, values: ['empty', v, 5] });
  assert.deepEqual(prepared.rows, []);
  assert.deepEqual(prepared.fields.map((f) => f.dataTypeID), [TEXT, FLOAT4, JSONB, TEXT]);
  const outer = await client.query(`SELECT count(*) AS docs, count(s.id) AS matched, sum(s.distance) AS total
    FROM documents d LEFT JOIN vector_search('empty', '${v}', 5) s ON s.id = d.id`);
  assert.deepEqual(outer.rows, [{ docs: String(fx.docs.size), matched: '0', total: null }]);
  assert.equal(outer.fields[2]!.dataTypeID, FLOAT4, 'sum(real) is real: the empty VALUES kept its types');
  const agg = await client.query(`SELECT count(*) AS n, avg(distance) AS avg FROM vector_search('empty', $1, 3)`, [v]);
  assert.deepEqual(agg.rows, [{ n: '0', avg: null }]);
});

test('a parameter used by the vector call and by the rest of the statement', async () => {
  const v = randomVector(fx.random);
  const hits = await searchAlone(fx, 'docs', v, 20);
  // $2 is both k and the LIMIT of the outer query; $1 is the vector and also echoed as text.
  const text = `SELECT s.id, $2::int AS k, length($1::text) > 0 AS echoed FROM vector_search('docs', $1, $2) s
    ORDER BY s.distance DESC LIMIT $2 - 1`;
  for (const k of [20, 4]) {
    const result = await client.query({ name: 'compose-shared', text, values: [vectorText(v), k] });
    const expected = hits.slice(0, k).reverse().slice(0, k - 1).map((h) => ({ id: h.id, k, echoed: true }));
    assert.deepEqual(result.rows, expected);
  }
  // A parameter of the rest placed before the vector call's in the text is renumbered for PostgreSQL.
  const mixed = await client.query(`SELECT d.id FROM documents d WHERE d.lang = $3 AND d.id IN (SELECT id FROM vector_search('docs', $1, $2)) ORDER BY d.id`,
    [vectorText(v), 20, 'de']);
  assert.deepEqual(mixed.rows.map((r) => r.id), joinDocs(fx, hits, (d) => d.lang === 'de').map((p) => p.doc.id).sort());
});

test('vector_get and vector_collections as FROM items, with real[], bigint and jsonb columns', async () => {
  const got = await client.query(`SELECT g.id, g.vector, g.payload, d.title FROM vector_get('docs', $1) g JOIN documents d USING (id)`, [docId(7)]);
  const alone = await fx.plain.query(`SELECT * FROM vector_get('docs', $1)`, [docId(7)]);
  assert.deepEqual(got.rows, [{ ...alone.rows[0], title: fx.docs.get(docId(7))!.title }]);
  assert.deepEqual(got.fields.map((f) => f.dataTypeID), [TEXT, FLOAT4_ARRAY, JSONB, TEXT]);
  const missing = await client.query(`SELECT d.title FROM documents d JOIN vector_get('docs', 'no-such-id') g USING (id)`);
  assert.deepEqual(missing.rows, []);
  const listed = await client.query(`SELECT c.name, c.vectors, c.vectors > 0 AS filled FROM vector_collections() c WHERE c.dimensions = 16 ORDER BY c.name`);
  assert.deepEqual(listed.rows, [{ name: 'docs', vectors: '500', filled: true }, { name: 'empty', vectors: '0', filled: false }]);
});

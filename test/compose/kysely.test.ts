// A query builder from npm over node-postgres: Kysely's PostgresDialect on a pg.Pool pointed at the
// proxy. vector_search stands in FROM through Kysely's `sql` tag and is joined with the documents table
// through the builder; Kysely sends it as a parameterized (extended protocol) query. The rows equal the
// two-step answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { startFixture, searchAlone, joinDocs, randomVector, vectorText, proxyConfig, type Fixture } from './fixture.ts';

interface Database {
  documents: { id: string; title: string; published: boolean; lang: string };
}

/** The row type vector_search(...) gives, for Kysely's `sql` tag. */
interface SearchRow { id: string; distance: number; payload: { lang: string; n: number } }

let fx: Fixture;
let db: Kysely<Database>;

before(async () => {
  fx = await startFixture(4005);
  db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ ...proxyConfig(fx.stack), max: 2 }) }) });
});
after(async () => {
  await db?.destroy();
  await fx?.stop();
});

const search = (vector: readonly number[], k: number) => sql<SearchRow>`vector_search('docs', ${vectorText(vector)}, ${k})`.as('s');

test('kysely: selectFrom(vector_search) innerJoin documents, where, orderBy distance, limit', async () => {
  for (let round = 0; round < 3; round++) {
    const v = randomVector(fx.random);
    const rows = await db.selectFrom(search(v, 25))
      .innerJoin('documents as d', 'd.id', 's.id')
      .select(['d.id', 'd.title', 's.distance'])
      .where('d.published', '=', true)
      .orderBy('s.distance')
      .limit(6)
      .execute();
    const expected = joinDocs(fx, await searchAlone(fx, 'docs', v, 25), (d) => d.published).slice(0, 6);
    assert.ok(expected.length > 0);
    assert.deepEqual(rows, expected.map(({ hit, doc }) => ({ id: doc.id, title: doc.title, distance: hit.distance })));
  }
});

test('kysely: the table first, innerJoin of the search with a callback, group by language with count', async () => {
  const v = randomVector(fx.random);
  const rows = await db.selectFrom('documents as d')
    .innerJoin(search(v, 40), (join) => join.onRef('s.id', '=', 'd.id'))
    .select(['d.lang', (eb) => eb.fn.countAll<string>().as('n')])
    .groupBy('d.lang')
    .orderBy('d.lang')
    .execute();
  const counts = new Map<string, number>();
  for (const { doc } of joinDocs(fx, await searchAlone(fx, 'docs', v, 40))) counts.set(doc.lang, (counts.get(doc.lang) ?? 0) + 1);
  assert.deepEqual(rows, [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([lang, n]) => ({ lang, n: String(n) })));
});

test('kysely: insertInto(…).expression(select from the search) stores the hits', async () => {
  await db.schema.createTable('kysely_hits').addColumn('id', 'text').addColumn('distance', 'real').execute();
  const v = randomVector(fx.random);
  const db2 = db.withTables<{ kysely_hits: { id: string; distance: number } }>();
  await db2.insertInto('kysely_hits').columns(['id', 'distance'])
    .expression(db2.selectFrom(search(v, 9)).select(['s.id', 's.distance']))
    .execute();
  const stored = await db2.selectFrom('kysely_hits').selectAll().orderBy('distance').orderBy('id').execute();
  assert.deepEqual(stored, (await searchAlone(fx, 'docs', v, 9)).map((h) => ({ id: h.id, distance: h.distance })));
});

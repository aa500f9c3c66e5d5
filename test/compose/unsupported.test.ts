// Vector functions where the proxy cannot evaluate them get 0A000 with a hint, never a silently wrong
// answer: arguments taken from table rows (LATERAL, correlated), a set-returning call in a select list,
// and queries PostgreSQL would store and re-run later without the proxy (views, materialized views,
// rules, function bodies, PREPARE). A view stored in PostgreSQL directly fails when queried, through the
// stubs of sql/vectorgate.sql, and the session goes on after every error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { DATABASE } from '../helpers/cluster.ts';
import { rejection } from '../clients/pg-connect.ts';
import { startFixture, searchAlone, joinDocs, randomVector, vectorText, proxyConfig, type Fixture } from './fixture.ts';

const SURFACE_SQL = new URL('../../sql/vectorgate.sql', import.meta.url);

let fx: Fixture;
let client: pg.Client;
let vector: string;

before(async () => {
  fx = await startFixture(4006);
  client = new pg.Client(proxyConfig(fx.stack));
  await client.connect();
  vector = vectorText(randomVector(fx.random));
});
after(async () => {
  await client?.end();
  await fx?.stop();
});

/** The statement fails with 0A000 and a hint, and the session answers the next statement. */
async function assertUnsupported(query: Promise<unknown>, message: RegExp, hint: RegExp): Promise<void> {
  const err = await rejection(query) as Error & { code?: string; hint?: string };
  assert.equal(err.code, '0A000', err.message);
  assert.match(err.message, message);
  assert.match(err.hint ?? '', hint);
  assert.deepEqual((await client.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
}

async function upstreamRelation(name: string): Promise<boolean> {
  const admin = await fx.stack.cluster.admin(DATABASE);
  try {
    return (await admin.query('SELECT to_regclass($1) IS NOT NULL AS present', [name])).rows[0].present;
  } finally {
    await admin.end();
  }
}

test('LATERAL and correlated arguments taken from table rows: 0A000, simple and extended protocol', async () => {
  const lateral = `SELECT d.id, s.id FROM documents d, LATERAL vector_search('docs', d.title, 3) s`;
  await assertUnsupported(client.query(lateral), /LATERAL or correlated/, /join their result with the table/);
  await assertUnsupported(client.query(`${lateral} WHERE d.lang = $1`, ['en']), /LATERAL or correlated/, /join their result/);
  // The same without the keyword: a subquery whose vector argument is a column of the outer row.
  const correlated = `SELECT d.id, (SELECT min(distance) FROM vector_search('docs', d.title, 1)) FROM documents d`;
  await assertUnsupported(client.query(correlated), /LATERAL or correlated/, /constants or \$n parameters/);
  await assertUnsupported(client.query(`SELECT * FROM documents d JOIN LATERAL vector_search('docs', '${vector}', 3) s ON true`), /LATERAL/, /join their result/);
});

test('vector_search in a select list: 0A000 with a hint to use it in FROM', async () => {
  await assertUnsupported(client.query(`SELECT vector_search('docs', '${vector}', 3)`), /returns a set of rows/, /SELECT \* FROM vector_search/);
  await assertUnsupported(client.query(`SELECT vector_search('docs', $1, 3)`, [vector]), /returns a set of rows/, /SELECT \* FROM vector_search/);
  await assertUnsupported(client.query(`SELECT d.id, vector_search('docs', '${vector}', 3) FROM documents d`), /vector_search\(\)/, /FROM vector_search/);
});

test('a view, materialized view, rule, SQL-body function or PREPARE over vector_search is refused, nothing is created', async () => {
  const search = `SELECT * FROM vector_search('docs', '${vector}', 3)`;
  // Each would keep this moment's rows in PostgreSQL and serve them later as if searched again.
  await assertUnsupported(client.query(`CREATE VIEW near_view AS ${search}`), /vector_search\(\)/, /through vectorgate/);
  await assertUnsupported(client.query(`CREATE MATERIALIZED VIEW near_mat AS ${search}`), /vector_search\(\)/, /through vectorgate/);
  await assertUnsupported(client.query(`CREATE VIEW near_join AS SELECT d.title FROM documents d JOIN vector_search('docs', '${vector}', 3) s USING (id)`), /vector_search\(\)/, /through vectorgate/);
  await assertUnsupported(client.query(`CREATE FUNCTION near_fn() RETURNS SETOF text LANGUAGE sql BEGIN ATOMIC SELECT id FROM vector_search('docs', '${vector}', 3); END`), /vector_search\(\)/, /through vectorgate/);
  await assertUnsupported(client.query(`CREATE RULE near_rule AS ON INSERT TO documents DO ALSO SELECT * FROM vector_search('docs', '${vector}', 1)`), /vector_search\(\)/, /through vectorgate/);
  await assertUnsupported(client.query(`PREPARE near_prepared AS ${search}`), /vector_search\(\)/, /through vectorgate/);
  for (const name of ['near_view', 'near_mat', 'near_join']) assert.equal(await upstreamRelation(name), false, `${name} was not created`);
  assert.equal((await client.query(`SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'near_fn'`)).rows[0].n, 0);
  assert.equal((await client.query(`SELECT count(*)::int AS n FROM pg_rules WHERE rulename = 'near_rule'`)).rows[0].n, 0);
});

test('a view stored in PostgreSQL directly over the installed signatures fails clearly when queried through the proxy', async () => {
  const admin = await fx.stack.cluster.admin(DATABASE);
  try {
    await admin.query(readFileSync(SURFACE_SQL, 'utf8'));
    // Created around the proxy, so the view refers to the stub that raises instead of searching.
    await admin.query(`CREATE VIEW stored_near AS SELECT * FROM vector_search('docs', '{1,2}'::real[], 3)`);
    await admin.query(`CREATE FUNCTION stored_fn() RETURNS SETOF text LANGUAGE sql AS $$ SELECT id FROM vector_search('docs', '{1,2}'::real[], 3) $$`);
  } finally {
    await admin.end();
  }
  const viaView = await rejection(client.query('SELECT d.title FROM stored_near s JOIN documents d USING (id)')) as Error & { code?: string };
  assert.equal(viaView.code, '0A000');
  assert.match(viaView.message, /vector_search\(\) must be called through vectorgate/);
  const viaFunction = await rejection(client.query('SELECT * FROM stored_fn()')) as Error & { code?: string };
  assert.equal(viaFunction.code, '0A000');
  assert.match(viaFunction.message, /vector_search\(\) must be called through vectorgate/);
  // A function whose body is a string is PostgreSQL's to run; through the proxy it can still be created.
  await client.query(`CREATE FUNCTION stored_fn2() RETURNS SETOF text LANGUAGE sql AS $$ SELECT id FROM vector_search('docs', '{1}'::real[], 1) $$`);
  const viaNew = await rejection(client.query('SELECT * FROM stored_fn2()')) as Error & { code?: string };
  assert.equal(viaNew.code, '0A000');
  // The composed form of the same question works through the proxy, next to the stubs.
  const composed = await client.query(`SELECT d.title FROM vector_search('docs', '${vector}', 3) s JOIN documents d USING (id) ORDER BY s.distance`);
  const expected = joinDocs(fx, await searchAlone(fx, 'docs', JSON.parse(vector) as number[], 3));
  assert.deepEqual(composed.rows, expected.map(({ doc }) => ({ title: doc.title })));
});

// Composed statements through psql: a join shown with -At, and the same composed statements sent one by
// one from a script and all at once as one multi-statement -c string (one simple Query with several
// statements, which psql 15 shows every result of). Both equal the two-step answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ROLES } from '../helpers/cluster.ts';
import { psql, lines } from '../clients/psql-runner.ts';
import { startFixture, searchAlone, joinDocs, randomVector, vectorText, type Fixture } from './fixture.ts';

let fx: Fixture;

before(async () => {
  fx = await startFixture(4002);
});
after(async () => {
  await fx?.stop();
});

test('psql -At: vector_search joined with documents, filtered, nearest first', async () => {
  const v = randomVector(fx.random);
  const out = lines(await psql(fx.target(), ROLES.scram, {
    commands: [`SELECT d.id, d.title, s.distance FROM vector_search('docs', '${vectorText(v)}', 20) s
      JOIN documents d ON d.id = s.id WHERE d.published ORDER BY s.distance LIMIT 5`],
  }));
  const expected = joinDocs(fx, await searchAlone(fx, 'docs', v, 20), (d) => d.published).slice(0, 5);
  assert.equal(expected.length, 5);
  assert.deepEqual(out, expected.map(({ hit, doc }) => `${doc.id}|${doc.title}|${hit.distance}`));
});

test('psql: composed statements one by one and as one multi-statement string give the same rows', async () => {
  const a = randomVector(fx.random);
  const b = randomVector(fx.random);
  const [hitsA, hitsB] = [await searchAlone(fx, 'docs', a, 30), await searchAlone(fx, 'docs', b, 10)];
  const statements = (table: string) => [
    `CREATE TABLE ${table} (id text, distance real)`,
    `INSERT INTO ${table} SELECT id, distance FROM vector_search('docs', '${vectorText(b)}', 10)`,
    `WITH near AS (SELECT * FROM vector_search('docs', '${vectorText(a)}', 30)) SELECT count(*) FROM near JOIN documents d USING (id) WHERE d.lang = 'fr'`,
    `SELECT s.payload->>'lang', count(*) FROM vector_search('docs', '${vectorText(a)}', 30) s GROUP BY 1 ORDER BY 1`,
    `SELECT 'plain statement between composed ones'`,
    `SELECT h.id FROM ${table} h JOIN (SELECT id FROM vector_search('docs', '${vectorText(a)}', 30)) x USING (id) ORDER BY h.distance`,
  ];
  const langs = new Map<string, number>();
  for (const hit of hitsA) langs.set(hit.payload.lang, (langs.get(hit.payload.lang) ?? 0) + 1);
  const inA = new Set(hitsA.map((h) => h.id));
  const expected = [
    'CREATE TABLE',
    'INSERT 0 10',
    String(joinDocs(fx, hitsA, (d) => d.lang === 'fr').length),
    ...[...langs].sort(([x], [y]) => x.localeCompare(y)).map(([lang, n]) => `${lang}|${n}`),
    'plain statement between composed ones',
    ...hitsB.filter((h) => inA.has(h.id)).map((h) => h.id),
  ];
  // -At keeps command tags of statements without rows, so CREATE and INSERT show as their tags.
  const oneByOne = lines(await psql(fx.target(), ROLES.scram, { script: statements('hits_script').map((s) => `${s};`).join('\n') }));
  assert.deepEqual(oneByOne, expected);
  const together = lines(await psql(fx.target(), ROLES.scram, { commands: [statements('hits_multi').join('; ')] }));
  assert.deepEqual(together, expected);
});

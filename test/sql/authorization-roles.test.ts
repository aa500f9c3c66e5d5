// The answer follows the role PostgreSQL says the session has now (issue 9): SET ROLE, SET LOCAL ROLE,
// SET SESSION AUTHORIZATION and group membership (INHERIT or not) change it; a GRANT or REVOKE sent
// through the proxy takes effect at once, even for a session whose answer is cached, and one sent
// straight to PostgreSQL within privilegeCacheMs. Composed statements are checked on both sides: the
// collection by the proxy, the tables by PostgreSQL. The relation vectorgate.docs is what \dp shows,
// holds no rows and takes none.
// https://www.postgresql.org/docs/15/sql-set-role.html
// https://www.postgresql.org/docs/15/sql-set-session-authorization.html
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { DATABASE } from '../helpers/cluster.ts';
import type { ClientTarget } from '../helpers/client-target.ts';
import { psql, lines } from '../clients/psql-runner.ts';
import {
  startAuthFixture, outcome, searchOutcome, assertSessionGoesOn, DENIED_DOCS, LOGINS, PRIVILEGE_CACHE_MS, VECTOR,
  type AuthFixture,
} from './authorization-fixture.ts';

const OK = 'allowed';
let fx: AuthFixture;
let admin: pg.Client;
let owner: pg.Client;

before(async () => {
  fx = await startAuthFixture();
  admin = await fx.admin(DATABASE);
  owner = await fx.connect('vg_owner');
  await admin.query('CREATE TABLE app_docs (id text PRIMARY KEY, title text)');
  await admin.query(`INSERT INTO app_docs SELECT 'doc-' || g, 'title ' || g FROM generate_series(1, 5) g`);
  await admin.query('GRANT SELECT ON app_docs TO vg_nobody, vg_readers');
});
after(async () => {
  await fx?.stop();
});

async function currentUser(client: pg.Client): Promise<string> {
  return (await client.query<{ current_user: string }>('SELECT current_user')).rows[0]!.current_user;
}

test('\\dp vectorgate.docs through psql shows the owner\'s grants', async () => {
  const target: ClientTarget = { kind: 'vectorgate', host: fx.stack.proxyHost, port: fx.stack.proxyPort, cluster: fx.stack.cluster, stop: async () => {} };
  const out = lines(await psql(target, LOGINS.vg_owner, { commands: ['\\dp vectorgate.docs'] })).join('\n');
  assert.match(out, /^vectorgate\|docs\|table\|/);
  assert.match(out, /vg_owner=arwdDxtm?\/vg_owner/, 'the owner holds every table privilege');
  assert.match(out, /(^|\n|\|)vg_reader=r\/vg_owner(\n|\|)/);
  assert.match(out, /(^|\n)vg_readers=r\/vg_owner(\n|\|)/);
});

test('vectorgate.docs queried directly returns no rows; a direct INSERT fails its CHECK (23514)', async () => {
  const reader = await fx.connect('vg_reader');
  assert.deepEqual((await reader.query('SELECT * FROM vectorgate.docs')).rows, []);
  await assert.rejects(owner.query(`INSERT INTO vectorgate.docs VALUES ('x', '{1,2,3,4}', '{}')`), (err: Error & { code?: string }) => {
    assert.equal(err.code, '23514');
    assert.match(err.message, /violates check constraint/);
    return true;
  });
  await assertSessionGoesOn(owner, 'the refused INSERT');
});

test('composed statements: the collection checked by the proxy, the table by PostgreSQL', async () => {
  const composed = `SELECT d.title FROM vector_search('docs', '${VECTOR}', 3) v JOIN app_docs d ON d.id = v.id ORDER BY v.distance`;
  const reader = await fx.connect('vg_reader');
  const nobody = await fx.connect('vg_nobody');
  const member = await fx.connect('vg_member');
  assert.equal(await outcome(() => reader.query(composed)), '42501 permission denied for table app_docs', 'SELECT on docs, not on app_docs');
  assert.equal(await outcome(() => nobody.query(composed)), DENIED_DOCS, 'SELECT on app_docs, not on docs');
  const both = await member.query<{ title: string }>(composed);
  assert.equal(both.rowCount, 3, 'vg_readers has both');
  for (const client of [reader, nobody]) await assertSessionGoesOn(client, 'a refused composed statement');
});

test('SET ROLE: alice (superuser) allowed, as vg_nobody refused, after RESET ROLE allowed again', async () => {
  const alice = await fx.connect('alice');
  assert.equal(await searchOutcome(alice), OK);
  await alice.query('SET ROLE vg_nobody');
  assert.equal(await currentUser(alice), 'vg_nobody');
  assert.equal(await searchOutcome(alice), DENIED_DOCS);
  await alice.query('RESET ROLE');
  assert.equal(await searchOutcome(alice), OK);
});

test('SET LOCAL ROLE: refused inside the transaction block, allowed after COMMIT and after ROLLBACK', async () => {
  const alice = await fx.connect('alice');
  await alice.query('BEGIN');
  assert.equal(await searchOutcome(alice), OK, 'alice inside the block');
  await alice.query('SET LOCAL ROLE vg_nobody');
  assert.equal(await searchOutcome(alice), DENIED_DOCS);
  await alice.query('COMMIT');
  assert.equal(await currentUser(alice), 'alice');
  assert.equal(await searchOutcome(alice), OK, 'after COMMIT');

  await alice.query('BEGIN');
  await alice.query('SET LOCAL ROLE vg_nobody');
  assert.equal(await currentUser(alice), 'vg_nobody');
  await alice.query('ROLLBACK');
  assert.equal(await searchOutcome(alice), OK, 'after ROLLBACK');
});

test('SET ROLE vg_readers in vg_member\'s session: the group\'s privileges, inherited or not', async () => {
  const member = await fx.connect('vg_member');
  assert.equal(await searchOutcome(member), OK, 'inherited from vg_readers');
  await member.query('SET ROLE vg_readers');
  assert.equal(await searchOutcome(member), OK, 'as vg_readers');
  await member.query('RESET ROLE');

  // NOINHERIT: a member holds the group's privileges only after SET ROLE, as PostgreSQL checks tables.
  await admin.query('ALTER ROLE vg_member NOINHERIT');
  try {
    const noinherit = await fx.connect('vg_member');
    assert.equal(await searchOutcome(noinherit), DENIED_DOCS, 'NOINHERIT, before SET ROLE');
    await noinherit.query('SET ROLE vg_readers');
    assert.equal(await searchOutcome(noinherit), OK, 'NOINHERIT, after SET ROLE vg_readers');
    await noinherit.query('RESET ROLE');
    assert.equal(await searchOutcome(noinherit), DENIED_DOCS, 'NOINHERIT, after RESET ROLE');
  } finally {
    await admin.query('ALTER ROLE vg_member INHERIT');
  }
});

test('SET SESSION AUTHORIZATION: alice as vg_reader may search, not write; RESET gives alice back', async () => {
  const alice = await fx.connect('alice');
  const upsert = `SELECT vector_upsert('docs', 'by-alice', '${VECTOR}', '{}')`;
  assert.equal(await outcome(() => alice.query(upsert)), OK);
  await alice.query('SET SESSION AUTHORIZATION vg_reader');
  assert.equal(await outcome(() => alice.query(upsert)), DENIED_DOCS);
  assert.equal(await searchOutcome(alice), OK);
  await alice.query('RESET SESSION AUTHORIZATION');
  assert.equal(await outcome(() => alice.query(upsert)), OK);
});

test('REVOKE and GRANT sent through the proxy take effect at once, also for sessions that already asked', async () => {
  const reader = await fx.connect('vg_reader');
  const nobody = await fx.connect('vg_nobody');
  assert.equal(await searchOutcome(reader), OK);
  assert.equal(await searchOutcome(reader), OK, 'answered again (from the cache)');
  assert.equal(await searchOutcome(nobody), DENIED_DOCS);

  await owner.query('REVOKE SELECT ON vectorgate.docs FROM vg_reader');
  await owner.query('GRANT SELECT ON vectorgate.docs TO vg_nobody');
  assert.equal(await searchOutcome(reader), DENIED_DOCS, 'after the REVOKE');
  assert.equal(await searchOutcome(nobody), OK, 'after the GRANT');

  await owner.query('GRANT SELECT ON vectorgate.docs TO vg_reader');
  await owner.query('REVOKE SELECT ON vectorgate.docs FROM vg_nobody');
  assert.equal(await searchOutcome(reader), OK, 'granted again');
  assert.equal(await searchOutcome(nobody), DENIED_DOCS, 'revoked again');
});

test('a REVOKE sent straight to PostgreSQL takes effect within privilegeCacheMs', async () => {
  const reader = await fx.connect('vg_reader');
  assert.equal(await searchOutcome(reader), OK);
  await admin.query('REVOKE SELECT ON vectorgate.docs FROM vg_reader');
  try {
    // The documented bound on staleness: an answer cached before the REVOKE is at most this old.
    await sleep(PRIVILEGE_CACHE_MS + 50);
    assert.equal(await searchOutcome(reader), DENIED_DOCS);
  } finally {
    await admin.query('GRANT SELECT ON vectorgate.docs TO vg_reader');
  }
  await sleep(PRIVILEGE_CACHE_MS + 50);
  assert.equal(await searchOutcome(reader), OK, 'and the GRANT within the bound too');
});

// Who may do what to a collection (issue 9): every role × each of the 11 operations, allowed or
// refused as PostgreSQL refuses the same roles on a table. The collection `docs` belongs to vg_owner
// in database app; vg_reader and the group vg_readers (member: vg_member) were granted SELECT on
// vectorgate.docs; vg_nobody has nothing; alice is a superuser; vg_other is in database `other`,
// where docs does not exist. After every refusal the session goes on.
// https://www.postgresql.org/docs/15/ddl-priv.html
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { DATABASE } from '../helpers/cluster.ts';
import {
  startAuthFixture, outcome, assertSessionGoesOn, searchSql, DENIED_DOCS, DIMS, OTHER_DATABASE, VECTOR,
  type AuthFixture, type Role,
} from './authorization-fixture.ts';

type Operation = 'create' | 'list' | 'search' | 'get' | 'upsert' | 'delete' | 'copy' | 'set policy' | 'policies' | 'explain' | 'drop';

/**
 * Roles in the order each operation runs: those refused `drop` of `spare` before its owner drops it
 * (alice, a superuser, drops the collection vg_owner made in the `create` row).
 */
const ROLE_ORDER: Role[] = ['vg_reader', 'vg_member', 'vg_nobody', 'vg_other', 'alice', 'vg_owner'];

const OK = 'allowed';
const NOT_OWNER_DOCS = '42501 must be owner of collection docs';
const NO_CREATE = '42501 permission denied for schema vectorgate';
const MISSING_DOCS = '42P01 collection "docs" does not exist';

/**
 * The table: operation × role → "allowed", the refusal ("SQLSTATE message"), or for `list` the
 * names vector_collections() shows. COPY into a name that is no collection of the session's
 * database is PostgreSQL's own COPY, hence its wording for vg_other.
 */
const EXPECTED: Record<Operation, Record<Role, string>> = {
  create: { vg_owner: OK, alice: OK, vg_reader: NO_CREATE, vg_member: NO_CREATE, vg_nobody: NO_CREATE, vg_other: NO_CREATE },
  list: {
    vg_owner: 'docs,made_vg_owner,spare', alice: 'docs,made_alice,made_vg_owner,spare',
    vg_reader: 'docs,spare', vg_member: 'docs', vg_nobody: '', vg_other: '',
  },
  search: { vg_owner: OK, alice: OK, vg_reader: OK, vg_member: OK, vg_nobody: DENIED_DOCS, vg_other: MISSING_DOCS },
  get: { vg_owner: OK, alice: OK, vg_reader: OK, vg_member: OK, vg_nobody: DENIED_DOCS, vg_other: MISSING_DOCS },
  upsert: { vg_owner: OK, alice: OK, vg_reader: DENIED_DOCS, vg_member: DENIED_DOCS, vg_nobody: DENIED_DOCS, vg_other: MISSING_DOCS },
  delete: { vg_owner: OK, alice: OK, vg_reader: DENIED_DOCS, vg_member: DENIED_DOCS, vg_nobody: DENIED_DOCS, vg_other: MISSING_DOCS },
  copy: {
    vg_owner: OK, alice: OK, vg_reader: DENIED_DOCS, vg_member: DENIED_DOCS, vg_nobody: DENIED_DOCS,
    vg_other: '42P01 relation "docs" does not exist',
  },
  'set policy': { vg_owner: OK, alice: OK, vg_reader: NOT_OWNER_DOCS, vg_member: NOT_OWNER_DOCS, vg_nobody: NOT_OWNER_DOCS, vg_other: MISSING_DOCS },
  policies: { vg_owner: OK, alice: OK, vg_reader: OK, vg_member: OK, vg_nobody: DENIED_DOCS, vg_other: MISSING_DOCS },
  explain: { vg_owner: OK, alice: OK, vg_reader: OK, vg_member: OK, vg_nobody: DENIED_DOCS, vg_other: MISSING_DOCS },
  // vg_reader holds SELECT, INSERT, UPDATE and DELETE on spare, and still is not its owner.
  drop: {
    vg_owner: OK, alice: OK, vg_reader: '42501 must be owner of collection spare', vg_member: '42501 must be owner of collection spare',
    vg_nobody: '42501 must be owner of collection spare', vg_other: '42P01 collection "spare" does not exist',
  },
};

/** What each operation sends as `role`; resolves when allowed and answered as expected. */
const RUN: Record<Exclude<Operation, 'list'>, (client: pg.Client, role: Role) => Promise<unknown>> = {
  create: (c, role) => c.query(`SELECT vector_create_collection('made_${role}', ${DIMS})`),
  search: async (c) => assert.equal((await c.query(searchSql())).rowCount, 3),
  get: async (c) => assert.deepEqual((await c.query(`SELECT id FROM vector_get('docs', 'doc-1')`)).rows, [{ id: 'doc-1' }]),
  upsert: (c, role) => c.query(`SELECT vector_upsert('docs', 'up-${role}', '${VECTOR}', '{"by": "${role}"}')`),
  delete: (c, role) => c.query(`SELECT vector_delete('docs', 'up-${role}')`),
  copy: (c, role) => pipeline(Readable.from([`copy-${role}\t${VECTOR}\t{}\n`]), c.query(copyFrom('COPY docs (id, vector, payload) FROM STDIN'))),
  'set policy': (c) => c.query(`SELECT vector_set_policy('docs', 'ef_search', '64')`),
  policies: async (c) => assert.ok((await c.query(`SELECT * FROM vector_policies('docs')`)).rowCount! > 0),
  explain: async (c) => assert.match((await c.query(`EXPLAIN SELECT * FROM vector_search('docs', '${VECTOR}', 3)`)).rows.map((r) => r['QUERY PLAN']).join('\n'), /Vector Search on docs/),
  drop: (c, role) => c.query(`SELECT vector_drop_collection('${role === 'alice' ? 'made_vg_owner' : 'spare'}')`),
};

let fx: AuthFixture;
const sessions = new Map<Role, pg.Client>();

before(async () => {
  fx = await startAuthFixture();
  for (const role of ROLE_ORDER) sessions.set(role, await fx.connect(role));
});
after(async () => {
  await fx?.stop();
});

async function listed(client: pg.Client): Promise<string> {
  const names = (await client.query<{ name: string }>('SELECT name FROM vector_collections()')).rows.map((r) => r.name);
  return names.sort().join(',');
}

/** Runs one operation as every role (each in its own session); the outcomes as a role → outcome table. */
async function outcomes(operation: Operation): Promise<Record<Role, string>> {
  const got = {} as Record<Role, string>;
  for (const role of ROLE_ORDER) {
    const client = sessions.get(role)!;
    got[role] = operation === 'list' ? await listed(client) : await outcome(() => RUN[operation](client, role));
    await assertSessionGoesOn(client, `${operation} as ${role}`);
  }
  return got;
}

for (const operation of Object.keys(EXPECTED) as Operation[]) {
  test(`${operation}: each role allowed or refused as PostgreSQL would`, async () => {
    assert.deepEqual(await outcomes(operation), EXPECTED[operation]);
  });
}

test('the relations that represent collections: owned by their creators, gone with the collection', async () => {
  const admin = await fx.admin(DATABASE);
  const relations = await admin.query<{ relname: string; owner: string }>(`SELECT c.relname, c.relowner::regrole::text AS owner
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'vectorgate' AND c.relkind = 'r' ORDER BY 1`);
  assert.deepEqual(relations.rows, [{ relname: 'docs', owner: 'vg_owner' }, { relname: 'made_alice', owner: 'alice' }]);
});

test('names are per database: vg_other makes its own docs in `other`, and app\'s docs is untouched', async () => {
  const admin = await fx.admin(OTHER_DATABASE);
  await admin.query('GRANT CREATE ON SCHEMA vectorgate TO vg_other');
  const other = sessions.get('vg_other')!;
  await other.query(`SELECT vector_create_collection('docs', 8)`);
  assert.deepEqual((await other.query('SELECT name, dimensions FROM vector_collections()')).rows, [{ name: 'docs', dimensions: 8 }]);
  assert.equal((await other.query(`SELECT id FROM vector_search('docs', '[1,1,1,1,1,1,1,1]', 3)`)).rowCount, 0);
  const owner = sessions.get('vg_owner')!;
  assert.equal(await listed(owner), 'docs');
  assert.equal((await owner.query(searchSql(3))).rowCount, 3, 'app\'s docs keeps its rows and dimensions');
});

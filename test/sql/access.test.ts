// How the proxy asks PostgreSQL what a session may do, against a real PostgreSQL: a role cannot
// answer in PostgreSQL's stead (search_path), role changes are seen at once however they are made,
// each collection's relation follows its collection (owner, drop, a relation dropped by hand), and the
// DDL it runs never joins the client's transaction.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { WireClient, serialize, summary } from '../helpers/wire-client.ts';

let stack: Stack;
let admin: pg.Client;
let superuser: pg.Client;
const PASSWORD = 'access-secret';

function connect(user: string, password = PASSWORD): Promise<pg.Client> {
  const client = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user, password, database: DATABASE });
  return client.connect().then(() => client);
}

async function sqlState(run: Promise<unknown>): Promise<string> {
  try {
    await run;
    return 'ok';
  } catch (err) {
    return `${(err as { code?: string }).code}: ${(err as Error).message}`;
  }
}

const search = (collection: string) => `SELECT id FROM vector_search('${collection}', '[1,0]', 1)`;

before(async () => {
  // Answers are cached for an hour: every change a test sees must come from the epochs, not from expiry.
  stack = await startStack({ config: { privilegeCacheMs: 3_600_000 } });
  admin = await stack.cluster.admin(DATABASE);
  for (const role of ['acc_user', 'acc_team', 'acc_other']) await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${PASSWORD}'`);
  await admin.query('GRANT acc_team TO acc_user');
  // NOINHERIT: its membership gives acc_team's privileges only after SET ROLE acc_team.
  await admin.query(`CREATE ROLE acc_switcher LOGIN NOINHERIT PASSWORD '${PASSWORD}' IN ROLE acc_team`);
  superuser = await connect(ROLES.scram.user, ROLES.scram.password);
  await superuser.query(`SELECT vector_create_collection('shared', 2)`);
  await superuser.query(`SELECT vector_upsert('shared', 'a', '[1,0]')`);
  await superuser.query('GRANT CREATE ON SCHEMA vectorgate TO acc_user, acc_team');
});
after(async () => {
  await superuser?.end();
  await admin?.end();
  await stack?.stop();
});

test('a schema and functions of the role\'s own ahead of pg_catalog cannot answer the privilege question', async () => {
  const user = await connect('acc_user');
  try {
    await admin.query('CREATE SCHEMA IF NOT EXISTS acc_evil AUTHORIZATION acc_user');
    await user.query(`CREATE FUNCTION acc_evil.has_table_privilege(oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true'`);
    await user.query(`CREATE FUNCTION acc_evil.pg_has_role(oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true'`);
    await user.query(`CREATE VIEW acc_evil.pg_class AS SELECT * FROM pg_catalog.pg_class`);
    await user.query('SET search_path = acc_evil, pg_catalog, public');
    assert.equal(await sqlState(user.query(search('shared'))), '42501: permission denied for collection shared');
    assert.equal(await sqlState(user.query(`SELECT vector_drop_collection('shared')`)), '42501: must be owner of collection shared');
  } finally {
    await user.end();
  }
});

test('a role change is seen at once: SET ROLE, set_config(\'role\'), RESET ROLE, SET LOCAL ROLE ending with its block', async () => {
  await superuser.query('GRANT SELECT ON vectorgate.shared TO acc_team');
  const user = await connect('acc_switcher');
  try {
    assert.equal(await sqlState(user.query(search('shared'))), '42501: permission denied for collection shared');
    await user.query('SET ROLE acc_team');
    assert.equal(await sqlState(user.query(search('shared'))), 'ok');
    await user.query('RESET ROLE');
    assert.equal(await sqlState(user.query(search('shared'))), '42501: permission denied for collection shared');
    await user.query(`SELECT set_config('role', 'acc_team', false)`);
    assert.equal(await sqlState(user.query(search('shared'))), 'ok');
    await user.query('RESET ROLE');
    await user.query('BEGIN');
    await user.query('SET LOCAL ROLE acc_team');
    assert.equal(await sqlState(user.query(search('shared'))), 'ok');
    await user.query('COMMIT');
    assert.equal(await sqlState(user.query(search('shared'))), '42501: permission denied for collection shared');
  } finally {
    await user.end();
    await superuser.query('REVOKE SELECT ON vectorgate.shared FROM acc_team');
  }
});

test('the relation belongs to the role that created the collection, refuses rows, and goes with the collection', async () => {
  const user = await connect('acc_user');
  try {
    await user.query('SET ROLE acc_team');
    await user.query(`SELECT vector_create_collection('team_docs', 2)`);
    const owner = await admin.query(`SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'vectorgate.team_docs'::regclass`);
    assert.equal(owner.rows[0].owner, 'acc_team');
    assert.match(await sqlState(admin.query(`INSERT INTO vectorgate.team_docs VALUES ('x', '{1,0}', NULL)`)), /^23514: /);
    assert.deepEqual((await user.query('SELECT * FROM vectorgate.team_docs')).rows, []);
    await user.query('RESET ROLE');
    // acc_user is a member of acc_team, so it may drop what acc_team owns, as with tables.
    await user.query(`SELECT vector_drop_collection('team_docs')`);
    assert.equal((await admin.query(`SELECT to_regclass('vectorgate.team_docs') AS r`)).rows[0].r, null);
  } finally {
    await user.end();
  }
});

test('a relation dropped by hand: the catalog\'s owner and superusers keep the collection, nobody else gets it', async () => {
  const user = await connect('acc_user');
  const other = await connect('acc_other');
  try {
    await user.query(`SELECT vector_create_collection('orphan', 2)`);
    await user.query('GRANT SELECT ON vectorgate.orphan TO acc_other');
    await user.query(`SELECT vector_upsert('orphan', 'a', '[1,0]')`);
    assert.equal(await sqlState(other.query(search('orphan'))), 'ok');
    await user.query('DROP TABLE vectorgate.orphan');
    assert.equal(await sqlState(other.query(search('orphan'))), '42501: permission denied for collection orphan');
    assert.equal(await sqlState(user.query(search('orphan'))), 'ok');
    assert.equal(await sqlState(superuser.query(search('orphan'))), 'ok');
    await user.query(`SELECT vector_drop_collection('orphan')`);
  } finally {
    await user.end();
    await other.end();
  }
});

test('create and drop commit at once, so not inside a transaction block or a pipeline (25001); nothing is left behind', async () => {
  const user = await connect('acc_user');
  try {
    await user.query('BEGIN');
    assert.equal(await sqlState(user.query(`SELECT vector_create_collection('in_tx', 2)`)),
      '25001: vector_create_collection cannot run inside a transaction block');
    await user.query('ROLLBACK');
    assert.equal((await user.query(`SELECT count(*)::int AS n FROM vector_collections() WHERE name = 'in_tx'`)).rows[0].n, 0);
    assert.equal((await admin.query(`SELECT to_regclass('vectorgate.in_tx') AS r`)).rows[0].r, null);
  } finally {
    await user.end();
  }
  const raw = await WireClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE);
  try {
    await admin.query(`GRANT CREATE ON SCHEMA vectorgate TO ${ROLES.trust.user}`);
    raw.send(serialize.parse({ text: 'SELECT 1' }), serialize.bind({}), serialize.execute({}),
      serialize.parse({ text: `SELECT vector_create_collection('in_pipeline', 2)` }), serialize.bind({}), serialize.execute({}), serialize.sync());
    const answer = summary(await raw.readUntilReady());
    assert.ok(answer.includes('E:25001'), answer.join(' '));
    raw.send(serialize.parse({ text: `SELECT vector_create_collection('in_pipeline', 2)` }), serialize.bind({}), serialize.execute({}), serialize.sync());
    assert.ok(summary(await raw.readUntilReady()).includes('C:SELECT 1'));
  } finally {
    await raw.close();
  }
});

test('without schema vectorgate a role that is no superuser gets 3F000 with a hint; a superuser\'s first create makes it', async () => {
  await admin.query('CREATE DATABASE acc_fresh');
  const fresh = async (user: string, password: string) => {
    const client = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user, password, database: 'acc_fresh' });
    await client.connect();
    return client;
  };
  const user = await fresh('acc_user', PASSWORD);
  const su = await fresh(ROLES.scram.user, ROLES.scram.password);
  try {
    const refused = await user.query(`SELECT vector_create_collection('docs', 2)`).catch((err: pg.DatabaseError) => err);
    assert.equal((refused as pg.DatabaseError).code, '3F000');
    assert.match(String((refused as pg.DatabaseError).hint), /CREATE SCHEMA vectorgate AUTHORIZATION pg_database_owner/);
    await su.query(`SELECT vector_create_collection('docs', 2)`);
    const schema = await su.query(`SELECT pg_get_userbyid(nspowner) AS owner, has_schema_privilege('acc_user', 'vectorgate', 'USAGE') AS usage FROM pg_namespace WHERE nspname = 'vectorgate'`);
    assert.deepEqual(schema.rows[0], { owner: 'pg_database_owner', usage: true });
    assert.equal(await sqlState(user.query(`SELECT vector_create_collection('mine', 2)`)), '42501: permission denied for schema vectorgate');
    await su.query(`SELECT vector_drop_collection('docs')`);
  } finally {
    await user.end();
    await su.end();
  }
});

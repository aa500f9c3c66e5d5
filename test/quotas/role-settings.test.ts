// Where a role's limits come from, and that a session cannot raise them: role settings in
// pg_db_role_setting with PostgreSQL's precedence (ALTER ROLE … IN DATABASE > ALTER ROLE > ALTER
// DATABASE > ALTER ROLE ALL), read once per session; SET and SET LOCAL of a quota are refused (42501;
// 55P02 for a superuser), set_config() changes nothing the proxy reads, and a non-superuser cannot
// ALTER ROLE … SET them (PostgreSQL itself refuses placeholders). quotaMaxWaitMs is 0 and the rates 1–2/s,
// so a statement of several searches either finds its tokens or is refused at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { DATABASE, ROLES } from '../helpers/cluster.ts';
import { createOwnCollection, createTenant, eventually, failure, setUpSchema, tenantSessions } from './tenant-fixture.ts';

const LIMITS_DB = 'limits_db';
let stack: Stack;
const sessions = tenantSessions(() => stack);
const { clients, connect } = sessions;
/** `count` searches in one composed statement: each takes a token. */
const searches = (c: string, count: number) =>
  `SELECT count(*) AS n FROM ${Array.from({ length: count }, (_, i) => `vector_search('${c}', '[1,0]', 1) s${i}`).join(', ')}`;

before(async () => {
  stack = await startStack({ config: { quotaMaxWaitMs: 0 } });
  await setUpSchema(stack.cluster);
  const admin = await stack.cluster.admin();
  try {
    await admin.query(`CREATE DATABASE ${LIMITS_DB}`);
    await admin.query(`ALTER DATABASE ${LIMITS_DB} SET vectorgate.max_searches_per_second = 1`);
  } finally {
    await admin.end();
  }
  await setUpSchema(stack.cluster, LIMITS_DB);
});
after(async () => {
  await sessions.endAll();
  await stack?.stop();
});

test('SET and SET LOCAL of a quota are 42501 for a non-superuser; the session goes on and RESET is harmless', async () => {
  await createTenant(stack.cluster, 'vg_setter', { max_searches_per_second: 1 });
  const client = await connect('vg_setter');
  await createOwnCollection(client, 'set_target');
  const show = async (name: string) => (await client.query(`SHOW vectorgate.${name}`)).rows[0][`vectorgate.${name}`] as string;
  assert.equal(await show('max_searches_per_second'), '1', 'SHOW gives the limit the session enforces');
  assert.equal(await show('max_collections'), '0', 'unset: the server default, none');
  const set = await failure(client.query('SET vectorgate.max_searches_per_second = 1000'));
  assert.equal(set.code, '42501');
  assert.equal(set.message, 'permission denied to set parameter "vectorgate.max_searches_per_second"');
  await client.query('BEGIN');
  const local = await failure(client.query('SET LOCAL vectorgate.max_write_rows_per_second = 1000'));
  assert.equal(local.code, '42501');
  assert.equal((await failure(client.query('SELECT 1'))).code, '25P02', 'the transaction failed, as PostgreSQL\'s would');
  await client.query('ROLLBACK');
  await client.query('RESET vectorgate.max_searches_per_second');
  await client.query('SET vectorgate.max_searches_per_second TO DEFAULT');
  const refused = await failure(client.query(searches('set_target', 2)));
  assert.equal(refused.message, 'role "vg_setter" exceeded vectorgate.max_searches_per_second = 1', 'the limit still holds');
  assert.equal(await show('max_searches_per_second'), '1');
});

test('a superuser\'s SET is 55P02 with a hint to ALTER ROLE', async () => {
  const alice = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await alice.connect();
  clients.push(alice);
  const err = await failure(alice.query('SET vectorgate.max_collections = 5'));
  assert.equal(err.code, '55P02');
  assert.equal(err.message, 'parameter "vectorgate.max_collections" cannot be changed now');
  assert.match(err.hint ?? '', /ALTER ROLE .* SET vectorgate\.max_collections/);
  await alice.query('SET ROLE vg_setter');
  assert.equal((await failure(alice.query('SET vectorgate.max_collections = 5'))).code, '42501', 'after SET ROLE to a non-superuser');
  await alice.query('RESET ROLE');
});

test('set_config() and ALTER ROLE by the tenant itself cannot raise the limit', async () => {
  await createTenant(stack.cluster, 'vg_raiser', { max_searches_per_second: 1 });
  const client = await connect('vg_raiser');
  await createOwnCollection(client, 'raise_target');
  await client.query(`SELECT set_config('vectorgate.max_searches_per_second', '1000', false)`);
  const alter = await failure(client.query('ALTER ROLE vg_raiser SET vectorgate.max_searches_per_second = 1000'));
  assert.equal(alter.code, '42501', 'PostgreSQL refuses a non-superuser a placeholder role setting');
  const fresh = await connect('vg_raiser');
  await fresh.query(`SELECT set_config('vectorgate.max_searches_per_second', '1000', false)`);
  const refused = await failure(fresh.query(searches('raise_target', 2)));
  assert.equal(refused.message, 'role "vg_raiser" exceeded vectorgate.max_searches_per_second = 1');
});

test('precedence: ALTER ROLE … IN DATABASE beats ALTER ROLE, which beats ALTER DATABASE', async () => {
  await createTenant(stack.cluster, 'vg_db_only', {}, { database: LIMITS_DB });
  const dbOnly = await connect('vg_db_only', LIMITS_DB);
  await createOwnCollection(dbOnly, 'prec_db');
  const byDatabase = await failure(dbOnly.query(searches('prec_db', 2)));
  assert.equal(byDatabase.message, 'role "vg_db_only" exceeded vectorgate.max_searches_per_second = 1', 'ALTER DATABASE applies');

  await createTenant(stack.cluster, 'vg_by_role', { max_searches_per_second: 2 }, { database: LIMITS_DB });
  const byRole = await connect('vg_by_role', LIMITS_DB);
  await createOwnCollection(byRole, 'prec_role');
  assert.equal((await byRole.query(searches('prec_role', 2))).rows[0].n, '1', 'the role setting (2) beats the database (1)');
  assert.equal((await failure(byRole.query(searches('prec_role', 3)))).message, 'role "vg_by_role" exceeded vectorgate.max_searches_per_second = 2',
    'three searches in one statement never fit a burst of two');

  await createTenant(stack.cluster, 'vg_by_role', {}, { database: LIMITS_DB, existing: true, inDatabase: { max_searches_per_second: 1 } });
  const inDatabase = await connect('vg_by_role', LIMITS_DB);
  const refused = await failure(inDatabase.query(searches('prec_role', 2)));
  assert.equal(refused.message, 'role "vg_by_role" exceeded vectorgate.max_searches_per_second = 1', 'ALTER ROLE … IN DATABASE beats ALTER ROLE');
  await createTenant(stack.cluster, 'vg_by_role', {}, { existing: true });
  const elsewhere = await connect('vg_by_role', DATABASE);
  await createOwnCollection(elsewhere, 'prec_elsewhere');
  // Two searches in one statement pass only under a limit of 2 (under 1 the second never finds a token),
  // once the role's bucket (shared by its sessions on this proxy) is full again: a pause of over a
  // second refills it whatever a failed try took.
  const two = await eventually(() => elsewhere.query(searches('prec_elsewhere', 2)), 5, 1100);
  assert.equal(two.rows[0].n, '1', 'in another database the role setting (2) holds');
});

test('limits are read once per session: a new ALTER ROLE applies to the next session', async () => {
  await createTenant(stack.cluster, 'vg_later', { max_searches_per_second: 1 });
  const before = await connect('vg_later');
  await createOwnCollection(before, 'later_target');
  await createTenant(stack.cluster, 'vg_later', { max_searches_per_second: 0 }, { existing: true });
  assert.equal((await failure(before.query(searches('later_target', 2)))).code, '53400', 'the running session keeps what it read');
  const after = await connect('vg_later');
  assert.equal((await after.query(searches('later_target', 3))).rows[0].n, '1', 'the next session has no limit');
});

test('the limits query cannot be misled through search_path; a bad role setting value is 22023, not ignored', async () => {
  await createTenant(stack.cluster, 'vg_sneaky', { max_searches_per_second: 1 });
  const admin = await stack.cluster.admin(DATABASE);
  try {
    await admin.query('GRANT CREATE ON DATABASE app TO vg_sneaky');
  } finally {
    await admin.end();
  }
  const client = await connect('vg_sneaky');
  await createOwnCollection(client, 'sneaky');
  await client.query('CREATE SCHEMA sneaky');
  // Functions and operators that would hide every role setting, found first on the search_path.
  await client.query(`CREATE FUNCTION sneaky.starts_with(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT false'`);
  await client.query(`CREATE FUNCTION sneaky.never(oid, oid) RETURNS boolean LANGUAGE sql AS 'SELECT false'`);
  await client.query('CREATE OPERATOR sneaky.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = sneaky.never)');
  const misled = await connect('vg_sneaky');
  await misled.query('SET search_path = sneaky, pg_catalog');
  const refused = await failure(misled.query(searches('sneaky', 2)));
  assert.equal(refused.message, 'role "vg_sneaky" exceeded vectorgate.max_searches_per_second = 1');

  await createTenant(stack.cluster, 'vg_typo');
  const admin2 = await stack.cluster.admin(DATABASE);
  try {
    await admin2.query(`ALTER ROLE vg_typo SET vectorgate.max_collections = 'lots'`);
  } finally {
    await admin2.end();
  }
  const typo = await connect('vg_typo');
  const bad = await failure(typo.query(`SELECT * FROM vector_collections()`));
  assert.equal(bad.code, '22023');
  assert.equal(bad.message, 'invalid value for parameter "vectorgate.max_collections": "lots"');
});

// The roles, databases and collections the authorization tests share (issue 9), as a user sets them
// up with PostgreSQL's own statements: the schema `vectorgate` owned by pg_database_owner with USAGE
// for PUBLIC (like PostgreSQL 15's public schema), CREATE on it granted to the collection owner, and
// grants on the relations vectorgate.<collection> that represent collections, sent through the proxy.
// https://www.postgresql.org/docs/15/ddl-priv.html
import assert from 'node:assert/strict';
import pg from 'pg';
import type { Config } from '../../src/config.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';

export const OTHER_DATABASE = 'other';
/** The staleness bound the tests run with (config privilegeCacheMs). */
export const PRIVILEGE_CACHE_MS = 300;
export const DIMS = 4;
export const VECTOR = '[0.1,0.2,0.3,0.4]';
export const DOC_IDS = ['doc-1', 'doc-2', 'doc-3', 'doc-4', 'doc-5'];

/** The LOGIN roles the tests connect as (vg_readers is the NOLOGIN group of vg_member). */
export type Role = 'vg_owner' | 'vg_reader' | 'vg_member' | 'vg_nobody' | 'vg_other' | 'alice';

interface Login { user: string; password: string; database: string }

export const LOGINS: Record<Role, Login> = {
  vg_owner: { user: 'vg_owner', password: 'vg_owner-pw', database: DATABASE },
  vg_reader: { user: 'vg_reader', password: 'vg_reader-pw', database: DATABASE },
  vg_member: { user: 'vg_member', password: 'vg_member-pw', database: DATABASE },
  vg_nobody: { user: 'vg_nobody', password: 'vg_nobody-pw', database: DATABASE },
  vg_other: { user: 'vg_other', password: 'vg_other-pw', database: OTHER_DATABASE },
  alice: { user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE },
};

export interface AuthFixture {
  stack: Stack;
  /** A node-postgres client through the proxy, logged in as the role (SCRAM); ended by stop(). */
  connect(role: Role): Promise<pg.Client>;
  /** A superuser connection straight to PostgreSQL (not through the proxy); ended by stop(). */
  admin(database?: string): Promise<pg.Client>;
  stop(): Promise<void>;
}

/**
 * PostgreSQL + proxy, the roles and databases, and as vg_owner (through the proxy) the collections
 * `docs` (rows doc-1 … doc-5; SELECT for vg_reader and the group vg_readers) and `spare` (every
 * table privilege but ownership for vg_reader).
 */
/** config: settings beside privilegeCacheMs (e.g. rerankerAllowedHosts). */
export async function startAuthFixture(config: Partial<Config> = {}): Promise<AuthFixture> {
  const stack = await startStack({ config: { privilegeCacheMs: PRIVILEGE_CACHE_MS, ...config } });
  const clients: pg.Client[] = [];
  const fixture: AuthFixture = {
    stack,
    async connect(role) {
      const login = LOGINS[role];
      const client = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, ...login });
      clients.push(client);
      await client.connect();
      return client;
    },
    async admin(database = DATABASE) {
      const client = await stack.cluster.admin(database);
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.allSettled(clients.map((c) => c.end()));
      await stack.stop();
    },
  };
  try {
    await createRolesAndDatabases(fixture);
    await createCollections(fixture);
  } catch (err) {
    await fixture.stop();
    throw err;
  }
  return fixture;
}

async function createRolesAndDatabases(fixture: AuthFixture): Promise<void> {
  const admin = await fixture.admin('postgres');
  for (const role of ['vg_owner', 'vg_reader', 'vg_nobody', 'vg_other'] as const) {
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${LOGINS[role].password}'`);
  }
  await admin.query('CREATE ROLE vg_readers NOLOGIN');
  await admin.query(`CREATE ROLE vg_member LOGIN PASSWORD '${LOGINS.vg_member.password}' IN ROLE vg_readers`);
  await admin.query(`CREATE DATABASE ${OTHER_DATABASE}`);
  for (const database of [DATABASE, OTHER_DATABASE]) {
    const db = await fixture.admin(database);
    await db.query('CREATE SCHEMA IF NOT EXISTS vectorgate AUTHORIZATION pg_database_owner');
    await db.query('GRANT USAGE ON SCHEMA vectorgate TO PUBLIC');
  }
  const app = await fixture.admin(DATABASE);
  await app.query('GRANT CREATE ON SCHEMA vectorgate TO vg_owner');
}

async function createCollections(fixture: AuthFixture): Promise<void> {
  const owner = await fixture.connect('vg_owner');
  await owner.query(`SELECT vector_create_collection('docs', ${DIMS})`);
  await owner.query(`SELECT vector_create_collection('spare', ${DIMS})`);
  const rows = DOC_IDS.map((id, i) => ({ id, vector: [i + 1, 0.5, 0.25, 1 / (i + 1)], payload: { n: i } }));
  await owner.query(`SELECT vector_upsert('docs', $1::jsonb)`, [JSON.stringify(rows)]);
  await owner.query('GRANT SELECT ON vectorgate.docs TO vg_reader, vg_readers');
  await owner.query('GRANT SELECT, INSERT, UPDATE, DELETE ON vectorgate.spare TO vg_reader');
  await owner.end();
}

/** A search of `docs` that must come back with `k` rows. */
export function searchSql(k = 3, collection = 'docs'): string {
  return `SELECT id FROM vector_search('${collection}', '${VECTOR}', ${k})`;
}

/** "allowed", or the refusal as "SQLSTATE message", so that a table of outcomes compares at once. */
export async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'allowed';
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === undefined) throw err;
    return `${e.code} ${e.message}`;
  }
}

/** The session answers after whatever happened (as PostgreSQL's goes on after an error). */
export async function assertSessionGoesOn(client: pg.Client, what: string): Promise<void> {
  assert.deepEqual((await client.query('SELECT 1 AS one')).rows, [{ one: 1 }], `the session goes on after ${what}`);
}

/** A search as `client` is allowed (and finds rows) or refused with 42501. */
export async function searchOutcome(client: pg.Client): Promise<string> {
  return outcome(async () => {
    const result = await client.query(searchSql());
    assert.equal(result.rowCount, 3, 'an allowed search finds its rows');
  });
}

export const DENIED_DOCS = '42501 permission denied for collection docs';

// Tenants for the quota tests: LOGIN roles with role settings, made by the cluster's admin; each
// creates its own collection (so once privileges are checked it owns what it uses), after the
// vectorgate schema is set up as the spec says (owned by pg_database_owner, USAGE to PUBLIC).
import pg from 'pg';
import type { Stack } from '../helpers/stack.ts';
import { DATABASE, type TestCluster } from '../helpers/cluster.ts';

export const TENANT_PASSWORD = 'tenant-secret';

export async function setUpSchema(cluster: TestCluster, database = DATABASE): Promise<void> {
  const admin = await cluster.admin(database);
  try {
    await admin.query('CREATE SCHEMA IF NOT EXISTS vectorgate AUTHORIZATION pg_database_owner');
    await admin.query('GRANT USAGE ON SCHEMA vectorgate TO PUBLIC');
  } finally {
    await admin.end();
  }
}

/**
 * A LOGIN role (or an existing one) with `vectorgate.<name>` role settings and CREATE on schema
 * vectorgate in `database`. `inDatabase` settings are ALTER ROLE … IN DATABASE `database` SET.
 */
export async function createTenant(cluster: TestCluster, role: string, settings: Record<string, number> = {},
  options: { database?: string; inDatabase?: Record<string, number>; existing?: boolean } = {}): Promise<void> {
  const database = options.database ?? DATABASE;
  const admin = await cluster.admin(database);
  try {
    if (!options.existing) await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${TENANT_PASSWORD}'`);
    for (const [name, value] of Object.entries(settings)) await admin.query(`ALTER ROLE ${role} SET vectorgate.${name} = ${value}`);
    for (const [name, value] of Object.entries(options.inDatabase ?? {})) {
      await admin.query(`ALTER ROLE ${role} IN DATABASE ${database} SET vectorgate.${name} = ${value}`);
    }
    await admin.query(`GRANT CREATE ON SCHEMA vectorgate TO ${role}`);
  } finally {
    await admin.end();
  }
}

export async function connectAs(stack: Pick<Stack, 'proxyHost' | 'proxyPort'>, role: string, database = DATABASE): Promise<pg.Client> {
  const client = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: role, password: TENANT_PASSWORD, database });
  await client.connect();
  return client;
}

/** Sessions of a test file: connect as a tenant role; endAll() (in `after`) ends every one of them. */
export function tenantSessions(stack: () => Pick<Stack, 'proxyHost' | 'proxyPort'>) {
  const clients: pg.Client[] = [];
  return {
    clients,
    async connect(role: string, database = DATABASE): Promise<pg.Client> {
      const client = await connectAs(stack(), role, database);
      clients.push(client);
      return client;
    },
    async endAll(): Promise<void> {
      for (const client of clients.splice(0)) await client.end().catch(() => undefined);
    },
  };
}

/** Creates a 2-dimensional collection as `client`'s role, with rows a (1,0) and b (0,1). */
export async function createOwnCollection(client: pg.Client, name: string, rows: Record<string, [number, number]> = { a: [1, 0], b: [0, 1] }): Promise<void> {
  await client.query(`SELECT vector_create_collection('${name}', 2, metric => 'l2')`);
  const batch = Object.entries(rows).map(([id, vector]) => ({ id, vector }));
  if (batch.length > 0) await client.query('SELECT vector_upsert($1, $2::jsonb)', [name, JSON.stringify(batch)]);
}

export type PgError = Error & { code?: string; hint?: string; detail?: string };

/** The error a statement fails with; fails the test when it succeeds. */
export async function failure(promise: Promise<unknown>): Promise<PgError> {
  try {
    await promise;
  } catch (err) {
    return err as PgError;
  }
  throw new Error('expected the statement to fail');
}

/** Runs `attempt` until it succeeds, waiting `pauseMs` between tries, at most `tries` times (for tokens to refill). */
export async function eventually<T>(attempt: () => Promise<T>, tries = 50, pauseMs = 100): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (i >= tries) throw err;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
}

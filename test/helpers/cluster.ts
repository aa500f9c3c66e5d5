// A real PostgreSQL for tests: a fresh cluster in a temp dir on a free port, with roles for every
// authentication method the proxy must relay. Stopped and removed by stop(), also when a test fails.
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresServer } from '../../src/cli/postgres-server.ts';

export const ROLES = {
  scram: { user: 'alice', password: 'alice-secret' },
  md5: { user: 'bob', password: 'bob-secret' },
  /** Non-ASCII password that SASLprep normalises (soft hyphen is mapped to nothing; 'Ⅸ' stays). */
  saslprep: { user: 'carol', password: 'pä\u00ADss-Ⅸ' },
  trust: { user: 'fuzz', password: '' },
} as const;

export const DATABASE = 'app';

export interface TestCluster {
  server: PostgresServer;
  port: number;
  dir: string;
  superuserPassword: string;
  /** A superuser connection, to `postgres` unless another database is named. */
  admin(database?: string): Promise<pg.Client>;
  stop(): Promise<void>;
}

export async function startCluster(settings: Record<string, string> = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'vectorgate-test-'));
  chmodSync(dir, 0o755);
  const superuserPassword = 'super-secret';
  let server: PostgresServer;
  try {
    server = await PostgresServer.start({
      dataDir: join(dir, 'pg'),
      superuserPassword,
      hbaLines: [
        `host all ${ROLES.trust.user} 127.0.0.1/32 trust`,
        `host all ${ROLES.md5.user} 127.0.0.1/32 md5`,
        'host all all 127.0.0.1/32 scram-sha-256',
      ],
      settings: { fsync: 'off', max_connections: '200', ...settings },
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const cluster: TestCluster = {
    server,
    port: server.port,
    dir,
    superuserPassword,
    async admin(database = 'postgres') {
      const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', password: superuserPassword, database });
      await client.connect();
      return client;
    },
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await createRoles(cluster);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

async function createRoles(cluster: TestCluster): Promise<void> {
  const admin = await cluster.admin();
  try {
    await admin.query(`CREATE ROLE ${ROLES.scram.user} LOGIN SUPERUSER PASSWORD '${ROLES.scram.password}'`);
    await admin.query(`CREATE ROLE ${ROLES.saslprep.user} LOGIN PASSWORD '${ROLES.saslprep.password}'`);
    await admin.query(`CREATE ROLE ${ROLES.trust.user} LOGIN`);
    await admin.query(`SET password_encryption = 'md5'`);
    await admin.query(`CREATE ROLE ${ROLES.md5.user} LOGIN PASSWORD '${ROLES.md5.password}'`);
    await admin.query(`CREATE DATABASE ${DATABASE} OWNER ${ROLES.scram.user}`);
  } finally {
    await admin.end();
  }
}

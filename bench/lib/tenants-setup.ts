// What the tenants benchmark runs against, all in this process: a PostgreSQL (test/helpers/cluster.ts),
// one set of collections, and two proxies over it — one as started normally, one with
// ProxyOptions.uncheckedAccess, to measure what the privilege checks cost on the same data. The
// tenant roles get grants on the collection's relation and tenant A quotas as role settings (tenant
// C, A's twin, has none).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startCluster, ROLES, DATABASE, type TestCluster } from '../../test/helpers/cluster.ts';
import { seeded } from '../../test/helpers/random.ts';
import { makeConfig } from '../../src/config.ts';
import { Collections } from '../../src/router/collections.ts';
import { startProxy, type ProxyServer } from '../../src/wire/server.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createLogger } from '../../src/log.ts';
import { readVecs } from '../../src/cli/fvecs.ts';
import { binaryHeader, binaryRow, binaryTrailer } from '../../src/cli/load-encode.ts';
import { DATA_ROOT } from './search-data.ts';
import { onCleanup } from './cleanup.ts';
import type { Login } from './tenants-clients.ts';

export const COLLECTION = 'tenants';


export const TENANT_A: Login = { user: 'tenant_a', password: 'tenant-a-pw', database: DATABASE };
export const TENANT_B: Login = { user: 'tenant_b', password: 'tenant-b-pw', database: DATABASE };
/** A's twin without quotas: the same flood from it shows what the quotas keep from B. */
export const TENANT_C: Login = { user: 'tenant_c', password: 'tenant-c-pw', database: DATABASE };
const OWNER: Login = { user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE };

/** Tenant A's role settings (https://www.postgresql.org/docs/15/sql-alterrole.html). */
export const TENANT_A_QUOTAS = { 'vectorgate.max_searches_per_second': 100, 'vectorgate.max_write_rows_per_second': 500 };

export interface BenchData {
  source: string;
  dims: number;
  rows: number;
  base: Float32Array;
  /** Query vectors in pgvector's text form. */
  queries: string[];
}

export interface Bench {
  cluster: TestCluster;
  /** The proxy as started normally (privilege checks on). */
  checked: ProxyServer;
  /** The same collections behind a proxy with ProxyOptions.uncheckedAccess. */
  unchecked: ProxyServer;
  /** False when the proxy made no relation vectorgate.<collection> to grant on (no access checks yet). */
  granted: boolean;
}

/** glove-100's first `rows` base vectors and its queries, or seeded random ones when it is not there. */
export function loadData(dataset: string, rows: number, queryRows: number): BenchData {
  const dir = join(DATA_ROOT, dataset);
  const text = (v: Float32Array) => `[${Array.from(v).join(',')}]`;
  if (existsSync(join(dir, 'base.fvecs'))) {
    const base = readVecs(join(dir, 'base.fvecs'), 'f', rows);
    const queries = readVecs(join(dir, 'query.fvecs'), 'f', queryRows);
    const list = Array.from({ length: queries.rows }, (_, q) => text(queries.data.subarray(q * queries.dims, (q + 1) * queries.dims)));
    return { source: `${dataset} (first ${base.rows} base vectors, ${queries.rows} queries)`, dims: base.dims, rows: base.rows, base: base.data, queries: list };
  }
  const dims = 100;
  const random = seeded(9);
  const base = Float32Array.from({ length: rows * dims }, () => random() * 2 - 1);
  const queries = Array.from({ length: queryRows }, () => text(Float32Array.from({ length: dims }, () => random() * 2 - 1)));
  return { source: `seeded random (${dataset} not found in ${DATA_ROOT})`, dims, rows, base, queries };
}

export async function startBench(data: BenchData, shards: number): Promise<Bench> {
  const cluster = await startCluster();
  onCleanup('postgres', () => cluster.stop());
  await createTenants(cluster);
  const vectorDir = mkdtempSync(join(tmpdir(), 'vectorgate-bench-tenants-'));
  const config = makeConfig({ listenPort: 0, upstreamPort: cluster.port, logLevel: 'silent', metricsPort: 0 });
  const collections = await Collections.open(vectorDir, config);
  onCleanup('collections', async () => {
    await collections.close();
    rmSync(vectorDir, { recursive: true, force: true });
  });
  const log = createLogger(config.logLevel);
  const checked = await startProxy(config, createMetrics(), log, collections);
  onCleanup('proxy', () => checked.close());
  const unchecked = await startProxy(config, createMetrics(), log, collections, { uncheckedAccess: true });
  onCleanup('unchecked proxy', () => unchecked.close());
  await loadCollection(checked.port, data, shards);
  const granted = await grantTenants(cluster, checked.port);
  return { cluster, checked, unchecked, granted };
}

async function createTenants(cluster: TestCluster): Promise<void> {
  const admin = await cluster.admin();
  try {
    for (const tenant of [TENANT_A, TENANT_B, TENANT_C]) await admin.query(`CREATE ROLE ${tenant.user} LOGIN PASSWORD '${tenant.password}'`);
    for (const [name, value] of Object.entries(TENANT_A_QUOTAS)) await admin.query(`ALTER ROLE ${TENANT_A.user} SET ${name} = ${value}`);
  } finally {
    await admin.end();
  }
  const app = await cluster.admin(DATABASE);
  try {
    await app.query('CREATE SCHEMA IF NOT EXISTS vectorgate AUTHORIZATION pg_database_owner');
    await app.query('GRANT USAGE ON SCHEMA vectorgate TO PUBLIC');
  } finally {
    await app.end();
  }
}

/** A session of alice (a superuser, the collection's owner) through the proxy, for `run`. */
async function asOwner(port: number, run: (owner: pg.Client) => Promise<void>): Promise<void> {
  const owner = new pg.Client({ host: '127.0.0.1', port, ...OWNER });
  await owner.connect();
  try {
    await run(owner);
  } finally {
    await owner.end();
  }
}

/** Binary COPY data of every row (ids doc-<row>), 2,000 rows per CopyData message. */
function* copyChunks(data: BenchData): Generator<Buffer> {
  yield binaryHeader();
  for (let first = 0; first < data.rows; first += 2000) {
    const rows: Buffer[] = [];
    for (let i = first; i < Math.min(first + 2000, data.rows); i++) rows.push(binaryRow(`doc-${i}`, data.base, undefined, i * data.dims, data.dims));
    yield Buffer.concat(rows);
  }
  yield binaryTrailer();
}

/** Create, then one binary COPY of every row. */
async function loadCollection(port: number, data: BenchData, shards: number): Promise<void> {
  await asOwner(port, async (owner) => {
    await owner.query(`SELECT vector_create_collection($1, $2, metric => 'cosine', shards => $3)`, [COLLECTION, data.dims, shards]);
    await pipeline(Readable.from(copyChunks(data)), owner.query(copyFrom(`COPY ${COLLECTION} (id, vector) FROM STDIN (FORMAT binary)`)));
  });
}

/** GRANTs sent through the proxy, on the relation that represents the collection (when there is one). */
async function grantTenants(cluster: TestCluster, port: number): Promise<boolean> {
  const app = await cluster.admin(DATABASE);
  let exists: boolean;
  try {
    exists = (await app.query<{ exists: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [`vectorgate.${COLLECTION}`])).rows[0]!.exists;
  } finally {
    await app.end();
  }
  if (!exists) return false;
  await asOwner(port, async (owner) => {
    await owner.query(`GRANT SELECT, INSERT, UPDATE ON vectorgate.${COLLECTION} TO ${TENANT_A.user}, ${TENANT_C.user}`);
    await owner.query(`GRANT SELECT ON vectorgate.${COLLECTION} TO ${TENANT_B.user}`);
  });
  return true;
}

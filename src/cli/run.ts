// `vectorgate start` (embedded PostgreSQL + proxy) and `vectorgate proxy` (front an existing one).
import { ensureRelations } from './collection-relations.ts';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { PostgresServer } from './postgres-server.ts';
import { checkMetricsEndpoint, startMetricsServer, type MetricsEndpoint } from './metrics-server.ts';
import { startProxy } from '../wire/server.ts';
import { Collections } from '../router/collections.ts';
import type { QuotaStore } from '../router/quotas.ts';
import { createMetrics } from '../metrics.ts';
import { createLogger, type Logger } from '../log.ts';
import { DEFAULTS, type Config } from '../config.ts';

export interface Credentials { superuserPassword: string; user: string; password: string; database: string }

/** Kept in <dataDir>/credentials.json (mode 0600): made once, at the first start. */
function loadCredentials(dataDir: string): Credentials {
  const file = join(dataDir, 'credentials.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Credentials;
  const credentials: Credentials = {
    superuserPassword: randomBytes(18).toString('base64url'),
    user: 'vectorgate',
    password: randomBytes(12).toString('base64url'),
    database: 'vectorgate',
  };
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
  return credentials;
}

async function ensureRole(port: number, credentials: Credentials): Promise<void> {
  const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: credentials.superuserPassword, database: 'postgres' });
  await admin.connect();
  try {
    const role = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [credentials.user]);
    if (role.rowCount === 0) {
      await admin.query(`CREATE ROLE ${credentials.user} LOGIN PASSWORD '${credentials.password}'`);
    }
    const db = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [credentials.database]);
    if (db.rowCount === 0) await admin.query(`CREATE DATABASE ${credentials.database} OWNER ${credentials.user}`);
  } finally {
    await admin.end();
  }
  await installSurface(port, credentials);
}

/**
 * sql/vectorgate.sql (the vectorgate schema and the functions' signatures) in the database, so `\df
 * vector_*` and ORM introspection see the surface and collections can be created, and in template1, so
 * every database created later has them too.
 */
async function installSurface(port: number, credentials: Credentials): Promise<void> {
  const surface = readFileSync(new URL('../../sql/vectorgate.sql', import.meta.url), 'utf8');
  for (const database of [credentials.database, 'template1']) {
    const client = await connectAsSuperuser(port, credentials, database);
    try {
      await client.query(surface);
    } finally {
      await client.end();
    }
  }
}

async function connectAsSuperuser(port: number, credentials: Credentials, database: string): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: credentials.superuserPassword, database });
  await client.connect();
  return client;
}

export interface EmbeddedPostgres { postgres: PostgresServer; credentials: Credentials }

/**
 * The embedded PostgreSQL in <dataDir>/pg with the role and database vectorgate creates (and the
 * surface installed): what `start` and `cluster` put the proxies in front of.
 */
export async function startEmbeddedPostgres(config: Config, log: Logger): Promise<EmbeddedPostgres> {
  const dataDir = resolve(config.dataDir);
  const credentials = loadCredentials(dataDir);
  const postgres = await PostgresServer.start({
    dataDir: join(dataDir, 'pg'), superuserPassword: credentials.superuserPassword, relocateDir: config.relocatedPostgresDir,
  });
  log.info({ port: postgres.port, dataDir: postgres.dataDir, osUser: postgres.osUser }, 'PostgreSQL started');
  try {
    await ensureRole(postgres.port, credentials);
  } catch (err) {
    await postgres.stop();
    throw err;
  }
  return { postgres, credentials };
}

/** The psql connection string of a proxy at host:port for the role and database vectorgate created. */
export function connectionUrl(credentials: Credentials, host: string, port: number): string {
  return `postgresql://${credentials.user}:${credentials.password}@${host}:${port}/${credentials.database}`;
}

export async function runStart(config: Config): Promise<void> {
  holdSignals();
  checkMetricsEndpoint(metricsEndpoint(config));
  const log = createLogger(config.logLevel);
  const { postgres, credentials } = await startEmbeddedPostgres(config, log);
  try {
    const superuser = (database: string) => connectAsSuperuser(postgres.port, credentials, database);
    const { stop: stopProxy, port } = await serve({ ...config, ...migrationTarget(config, credentials), upstreamHost: '127.0.0.1', upstreamPort: postgres.port }, log,
      (collections) => ensureRelations(superuser, collections.owners(), log));
    // The bound port, not the configured one: --listen host:0 picks a free port.
    const url = connectionUrl(credentials, config.listenHost, port);
    console.log(`vectorgate is ready. Connect with:\n  psql '${url}'`);
    onShutdown(log, config, async () => {
      try {
        await stopProxy();
      } finally {
        await postgres.stop();
      }
    }, () => {
      // A forced exit still asks PostgreSQL for its fast shutdown, which it finishes on its own.
      if (postgres.pid !== undefined) process.kill(postgres.pid, 'SIGINT');
    });
  } catch (err) {
    await postgres.stop();
    throw err;
  }
}

/**
 * Collections made before they belonged to databases go to the database and role this start creates,
 * unless the settings name others (a setting left at its default counts as not set).
 */
function migrationTarget(config: Config, credentials: Credentials): Pick<Config, 'catalogMigrationDatabase' | 'catalogMigrationOwner'> {
  return {
    catalogMigrationDatabase: config.catalogMigrationDatabase === DEFAULTS.catalogMigrationDatabase ? credentials.database : config.catalogMigrationDatabase,
    catalogMigrationOwner: config.catalogMigrationOwner === DEFAULTS.catalogMigrationOwner ? credentials.user : config.catalogMigrationOwner,
  };
}

export async function runProxy(config: Config): Promise<void> {
  holdSignals();
  checkMetricsEndpoint(metricsEndpoint(config));
  const log = createLogger(config.logLevel);
  const { stop } = await serve(config, log);
  onShutdown(log, config, stop, () => undefined);
}

/** The collections with what the deployment adds around them (cluster: shared quotas, the etcd connection). */
interface Deployment { collections: Collections; quotas?: QuotaStore; close(): Promise<void> }

/**
 * Embedded: the catalog and shard logs in <dataDir>/vectors. Cluster (--etcd): everything in etcd and on
 * the workers. Either way the catalog is open when this returns; the collections recover in the background.
 */
async function openDeployment(config: Config, log: Logger): Promise<Deployment> {
  const dataDir = join(resolve(config.dataDir), 'vectors');
  const options = { background: true, log };
  if (config.etcdEndpoints === '') return { collections: await Collections.open(dataDir, config, options), close: async () => undefined };
  // Loaded on demand: the embedded default does not pay for gRPC and etcd at start-up.
  const { openClusterSeams } = await import('../cluster/cluster-seams.ts');
  const seams = await openClusterSeams(config, log);
  try {
    return { collections: await Collections.openWith(dataDir, config, seams, options), quotas: seams.quotas, close: seams.close };
  } catch (err) {
    await seams.close();
    throw err;
  }
}

function metricsEndpoint(config: Config): MetricsEndpoint {
  return { host: config.metricsHost, port: config.metricsPort, bearerToken: config.metricsBearerToken };
}

/**
 * Collections (data in <dataDir>/vectors: catalog, per-shard logs, snapshots), proxy, metrics. The
 * proxy listens once the catalog is open: pass-through SQL works at once, and a collection's vector
 * statements wait (recoveryWaitMs, then 57P03) until its shards have replayed their logs.
 */
async function serve(config: Config, log: Logger, opened: (collections: Collections) => Promise<void> = async () => undefined): Promise<{ stop: () => Promise<void>; port: number }> {
  const metrics = createMetrics({ maxTenantMetricRoles: config.maxTenantMetricRoles });
  const deployment = await openDeployment(config, log);
  const collections = deployment.collections;
  // Which code runs: the compiled dist/ or the TypeScript sources through tsx (bin/vectorgate.js decides).
  const code = import.meta.url.endsWith('.js') ? 'dist' : 'src';
  log.info({ collections: collections.count, code }, 'vector catalog opened; collections recovering');
  void collections.recovered().then(() => log.info({ collections: collections.count }, 'every collection recovered or failed to'));
  try {
    await opened(collections);
    const proxy = await startProxy(config, metrics, log, collections, { quotas: deployment.quotas });
    const metricsServer = await startMetricsServer(metrics, metricsEndpoint(config));
    const stop = async () => {
      metricsServer?.close();
      await proxy.close();
      try {
        await collections.close();
      } catch (err) {
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'stopped without a snapshot');
        throw err;
      } finally {
        await deployment.close();
      }
    };
    return { stop, port: proxy.port };
  } catch (err) {
    await collections.close().finally(() => deployment.close());
    throw err;
  }
}

/** Exit codes of a shutdown: every step done; a step failed (e.g. no snapshot on a full disk); cut short. */
export const EXIT_CLEAN = 0;
export const EXIT_STEP_FAILED = 1;
export const EXIT_FORCED = 2;

/**
 * SIGTERM/SIGINT: stop (sessions get shutdownGraceMs to finish their statements, then snapshots and
 * PostgreSQL), and exit however it went — after shutdownTimeoutMs at the latest. A second signal
 * exits at once, as a second Ctrl-C is expected to.
 */
export function onShutdown(log: Logger, config: Config, stop: () => Promise<void>, forceStop: () => void): void {
  let stopping = false;
  const exit = (code: number) => {
    log.flush();
    process.exit(code);
  };
  const force = (why: string) => {
    log.error({ exitCode: EXIT_FORCED }, why);
    forceStop();
    exit(EXIT_FORCED);
  };
  const handler = (signal: string) => {
    if (stopping) {
      force(`${signal} again: exiting at once, without finishing the shutdown`);
      return;
    }
    stopping = true;
    log.info({ signal, graceMs: config.shutdownGraceMs, timeoutMs: config.shutdownTimeoutMs }, 'shutting down');
    setTimeout(() => force(`shutdown did not finish within shutdownTimeoutMs (${config.shutdownTimeoutMs} ms): exiting`),
      config.shutdownTimeoutMs);
    stop().then(() => exit(EXIT_CLEAN), (err: unknown) => {
      log.error({ err: err instanceof Error ? err.message : String(err), exitCode: EXIT_STEP_FAILED }, 'shutdown failed');
      exit(EXIT_STEP_FAILED);
    });
  };
  // The handler first, then the hold off: removing a signal's last listener stops its watcher, and a
  // signal that arrives before the next listener starts one is lost (seen: a SIGTERM right after
  // "proxy listening" went unanswered about one start in five).
  for (const signal of SIGNALS) {
    process.on(signal, () => handler(signal));
    process.off(signal, holdSignal);
  }
  for (const signal of held.splice(0)) handler(signal);
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
/** Signals that came while the process was starting (before onShutdown): kept, then acted on. */
const held: string[] = [];
const holdSignal = (signal: string): void => { held.push(signal); };

/**
 * From the first step of a start: a SIGTERM while PostgreSQL starts or collections open would
 * otherwise end the process at once (the default action), before onShutdown can stop what started.
 */
function holdSignals(): void {
  for (const signal of SIGNALS) process.on(signal, holdSignal);
}

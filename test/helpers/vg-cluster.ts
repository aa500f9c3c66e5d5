// A whole vectorgate cluster for tests: a real PostgreSQL (startCluster), etcd members, worker
// processes and proxy processes (LocalCluster, the same code `vectorgate cluster` runs), all on
// loopback in one temp dir, all stopped by stop() — also when a test fails.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { LocalCluster, type LocalClusterOptions } from '../../src/cluster/local-cluster.ts';
import { DATABASE, ROLES, startCluster, type TestCluster } from './cluster.ts';

export interface VgCluster {
  pg: TestCluster;
  cluster: LocalCluster;
  dir: string;
  /** A node-postgres client of the superuser alice through proxy i, connected. */
  client(proxy: number): Promise<pg.Client>;
  stop(): Promise<void>;
}

export interface VgClusterOptions {
  workers?: number;
  proxies?: number;
  etcdMembers?: number;
  workerEtcdUrls?: LocalClusterOptions['workerEtcdUrls'];
  proxyEtcdUrls?: LocalClusterOptions['proxyEtcdUrls'];
  /** VECTORGATE_* settings for every process (short leases and grace periods make failover tests quick). */
  env?: Record<string, string>;
}

/** Settings that make a test cluster react within seconds. */
export const FAST_CLUSTER_ENV: Record<string, string> = {
  VECTORGATE_LOG_LEVEL: 'warn',
  VECTORGATE_WORKER_LEASE_TTL_SECONDS: '2',
  VECTORGATE_PROXY_LEASE_TTL_SECONDS: '2',
  VECTORGATE_PLACEMENT_GRACE_MS: '1000',
  VECTORGATE_SHARD_WORKERS: '1',
};

export async function startVgCluster(options: VgClusterOptions = {}): Promise<VgCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'vectorgate-cluster-'));
  const pgCluster = await startCluster();
  let cluster: LocalCluster;
  try {
    cluster = await LocalCluster.start({
      dir, upstream: { host: '127.0.0.1', port: pgCluster.port },
      etcdMembers: options.etcdMembers ?? 3, workers: options.workers ?? 3, proxies: options.proxies ?? 2,
      workerEtcdUrls: options.workerEtcdUrls, proxyEtcdUrls: options.proxyEtcdUrls,
      env: { ...FAST_CLUSTER_ENV, ...options.env },
    });
  } catch (err) {
    await pgCluster.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    pg: pgCluster,
    cluster,
    dir,
    async client(proxy) {
      const client = new pg.Client({ host: '127.0.0.1', port: cluster.proxies[proxy]!.port, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
      await client.connect();
      return client;
    },
    async stop() {
      try {
        await cluster.stop();
      } finally {
        await pgCluster.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Polls check until it holds (or throws after timeoutMs, naming what it waited for). */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

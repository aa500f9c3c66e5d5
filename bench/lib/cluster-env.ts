// What the cluster benchmark runs against: one PostgreSQL, one etcd, and vectorgate deployments over
// them — a cluster (LocalCluster: `vectorgate worker` and `vectorgate proxy --etcd` processes) under an
// etcd prefix of its own, or the embedded default (`vectorgate proxy` with a data directory). Everything
// registers its stop with cleanup.ts; processes can be pinned to CPUs with taskset.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { EtcdMembers } from '../../src/cluster/etcd-members.ts';
import { LocalCluster } from '../../src/cluster/local-cluster.ts';
import { createEtcdClient, type EtcdConnection } from '../../src/storage/etcd-client.ts';
import { DATABASE, ROLES, startCluster, type TestCluster } from '../../test/helpers/cluster.ts';
import { onCleanup } from './cleanup.ts';
import type { Credentials } from './search-proxy.ts';

export const CREDENTIALS: Credentials = { user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE };

export interface Base {
  pg: TestCluster;
  etcd: EtcdMembers;
  etcdConn: EtcdConnection;
  dir: string;
}

export async function startBase(etcdMembers: number): Promise<Base> {
  const dir = mkdtempSync(join(tmpdir(), 'vg-bench-cluster-'));
  onCleanup('temp dir', () => rmSync(dir, { recursive: true, force: true }));
  const pgCluster = await startCluster();
  onCleanup('PostgreSQL', () => pgCluster.stop());
  const etcd = await EtcdMembers.start({ count: etcdMembers, dir: join(dir, 'etcd') });
  onCleanup('etcd', () => etcd.stop());
  const etcdConn = createEtcdClient({ endpoints: etcd.urls.split(','), maxReceiveBytes: 64 << 20, callTimeoutMs: 10_000 });
  onCleanup('etcd client', () => etcdConn.client.close());
  return { pg: pgCluster, etcd, etcdConn, dir };
}

/** Settings of every vectorgate process the benchmark starts (cluster and embedded alike). */
export function vgEnv(shardWorkers: number, extra: Record<string, string> = {}): Record<string, string> {
  return { VECTORGATE_LOG_LEVEL: 'warn', VECTORGATE_SHARD_WORKERS: String(shardWorkers), ...extra };
}

export interface BenchCluster {
  cluster: LocalCluster;
  prefix: string;
  stop(): Promise<void>;
}

let clusterCount = 0;

/** A cluster on the base's etcd under a fresh etcd prefix (earlier clusters' collections stay out of its way). */
export async function startBenchCluster(base: Base, workers: number, proxies: number, env: Record<string, string>): Promise<BenchCluster> {
  const n = ++clusterCount;
  const prefix = `/vg-bench-${n}/`;
  const dir = join(base.dir, `cluster-${n}`);
  mkdirSync(dir, { recursive: true });
  const cluster = await LocalCluster.start({
    dir, upstream: { host: '127.0.0.1', port: base.pg.port }, etcdUrls: base.etcd.urls,
    workers, proxies, env: { ...env, VECTORGATE_ETCD_PREFIX: prefix },
  });
  const stop = onCleanup(`cluster ${n}`, () => cluster.stop());
  return { cluster, prefix, stop };
}

export async function connect(port: number): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, ...CREDENTIALS });
  // A proxy stopped at the end (or killed) ends its sessions: not an error of the benchmark.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/**
 * Pins a process and all its threads to the CPU list (taskset -a); threads it starts later inherit it.
 * Returns false when taskset is missing or fails (the run then says the processes were not pinned).
 */
export function pin(pid: number, cpus: string): boolean {
  const res = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { encoding: 'utf8' });
  return res.status === 0;
}

/** utime + stime of a process (all threads), ms. */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** Polls until check returns a value (or throws after timeoutMs, naming what it waited for). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

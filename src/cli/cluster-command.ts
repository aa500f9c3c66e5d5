// `vectorgate cluster`: the cluster on one machine, as local processes — the embedded PostgreSQL,
// 3 etcd members (the `etcd` on PATH, or --etcd URLS of a running cluster), N `vectorgate worker`
// processes in zones z0…, and 2 stateless `vectorgate proxy` processes in front. Prints how to
// connect; Ctrl-C stops everything (proxies, workers, etcd, PostgreSQL).
import { join, resolve } from 'node:path';
import type { Config } from '../config.ts';
import { createLogger } from '../log.ts';
import { etcdBinary } from '../cluster/etcd-members.ts';
import { LocalCluster } from '../cluster/local-cluster.ts';
import { connectionUrl, onShutdown, startEmbeddedPostgres } from './run.ts';

export interface ClusterFlags {
  /** Client URLs of a running etcd (comma-separated); absent: start 3 members. */
  etcd?: string;
  workers: number;
  proxies: number;
}

export const DEFAULT_CLUSTER_WORKERS = 3;
export const DEFAULT_CLUSTER_PROXIES = 2;
const ETCD_MEMBERS = 3;

/** Why the cluster cannot start without etcd, and what to do about it. */
export const NO_ETCD = 'vectorgate cluster needs etcd: no `etcd` binary is on PATH and no --etcd URLS was given. ' +
  'Install etcd (Debian/Ubuntu: `sudo apt-get install etcd-server`; elsewhere: https://etcd.io/docs/latest/install/) ' +
  'or pass --etcd http://host:2379,… of a running etcd cluster.';

export async function runCluster(config: Config, flags: ClusterFlags): Promise<void> {
  if (flags.etcd === undefined && !etcdBinary().found) throw new Error(NO_ETCD);
  if (!Number.isInteger(flags.workers) || flags.workers < 1) throw new RangeError('--workers must be a positive whole number');
  const log = createLogger(config.logLevel);
  const { postgres, credentials } = await startEmbeddedPostgres(config, log);
  let cluster: LocalCluster;
  try {
    cluster = await LocalCluster.start({
      dir: join(resolve(config.dataDir), 'cluster'),
      upstream: { host: '127.0.0.1', port: postgres.port },
      etcdUrls: flags.etcd,
      etcdMembers: ETCD_MEMBERS,
      workers: flags.workers,
      proxies: flags.proxies,
      // Proxy i on --listen's port + i (6432, 6433 by default); port 0: free ports.
      proxyPorts: config.listenPort === 0 ? undefined : Array.from({ length: flags.proxies }, (_, i) => config.listenPort + i),
      env: { VECTORGATE_LOG_LEVEL: config.logLevel },
    });
  } catch (err) {
    await postgres.stop();
    throw err;
  }
  console.log(`vectorgate cluster is ready: etcd ${cluster.etcdUrls}, ${cluster.workers.length} workers, ${cluster.proxies.length} proxies. Connect with:`);
  for (const proxy of cluster.proxies) console.log(`  psql '${connectionUrl(credentials, '127.0.0.1', proxy.port)}'`);
  console.log('Ctrl-C stops everything.');
  onShutdown(log, config, async () => {
    try {
      await cluster.stop();
    } finally {
      await postgres.stop();
    }
  }, () => {
    for (const child of [...cluster.proxies, ...cluster.workers]) if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    for (let i = 0; i < (cluster.etcd?.count ?? 0); i++) {
      const pid = cluster.etcd!.pid(i);
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
    }
    if (postgres.pid !== undefined) process.kill(postgres.pid, 'SIGINT');
  });
}


// The cluster deployment's seams for a proxy (`vectorgate proxy --etcd URLS`): the catalog in etcd
// (EtcdCatalogStore), reads over gRPC to worker processes (GrpcTransport), writes appended to etcd by
// the proxy itself (EtcdWritePath); besides them the per-role quotas shared through etcd and the
// placement controller's campaign. The one place besides embedded-seams.ts that names their classes.
// etcd unreachable at start: a clear log line per attempt and retries with back-off, until it answers.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { CollectionSeams } from '../router/collection-store.ts';
import type { EtcdConnection } from '../storage/etcd-client.ts';
import { closeLogConnection, etcdEndpointsOf, openLogConnection, openMetaConnection } from './etcd-connections.ts';
import { EtcdCatalogStore } from '../storage/etcd-catalog.ts';
import { EtcdLogWriter } from '../storage/etcd-log.ts';
import { startController } from './controller.ts';
import { EtcdQuotaStore } from './etcd-quotas.ts';
import { EtcdWritePath } from './etcd-write-path.ts';
import { GrpcTransport } from './grpc-transport.ts';

export interface ClusterSeams extends CollectionSeams {
  conn: EtcdConnection;
  /** Per-role quotas shared by the proxies (rate / N live proxies, slots as leased keys). */
  quotas: EtcdQuotaStore;
  /** After the collections are closed: the quota lease, then the etcd connection. */
  close(): Promise<void>;
}

const MAX_RETRY_DELAY_MS = 5_000;

export async function openClusterSeams(config: Config, log: Logger): Promise<ClusterSeams> {
  const endpoints = etcdEndpointsOf(config);
  const conn = openMetaConnection(config);
  try {
    const catalog = await untilReachable(log, endpoints, () => EtcdCatalogStore.open({ client: conn.client, endpoints, config }));
    try {
      const proxyId = `proxy-${randomUUID()}`;
      const quotas = await EtcdQuotaStore.open({ client: conn.client, endpoints, config, proxyId });
      try {
        const transport = await GrpcTransport.open({ conn, config, log });
        const logs = openLogConnection(config, conn);
        const writes = new EtcdWritePath(logs, new EtcdLogWriter(logs, config), config, (shard) => transport.appliedOf(shard));
        // Every proxy campaigns; the elected one places shards on workers (any proxy can hold it).
        const controller = startController({ conn, logConn: logs, config, id: proxyId, log });
        const close = async () => {
          await controller.stop();
          await quotas.close();
          closeLogConnection(logs, conn);
          conn.client.close();
        };
        return { conn, catalog, transport, writes, quotas, close };
      } catch (err) {
        await quotas.close();
        throw err;
      }
    } catch (err) {
      await catalog.close();
      throw err;
    }
  } catch (err) {
    conn.client.close();
    throw err;
  }
}

/** Runs open until etcd answers, logging each failure; errors other than an unreachable etcd end it. */
async function untilReachable<T>(log: Logger, endpoints: string[], open: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await open();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== '08006') throw err;
      const delayMs = Math.min(MAX_RETRY_DELAY_MS, 100 * 2 ** attempt);
      log.error({ endpoints, attempt, retryInMs: delayMs, err: err instanceof Error ? err.message : String(err) }, 'etcd is unreachable; retrying');
      await sleep(delayMs);
    }
  }
}

// The etcd connections of a cluster process: the metadata cluster of --etcd (catalog, leases,
// placement, reports, quotas, the controller's election) and the cluster holding the shard logs —
// the same one unless --etcd-logs names a separate one, so that a log's bulk cannot slow or fill the
// cluster the control plane needs.
import type { Config } from '../config.ts';
import { createEtcdClient, type EtcdConnection } from '../storage/etcd-client.ts';

/** The etcd endpoints of --etcd / VECTORGATE_ETCD_ENDPOINTS (comma-separated). */
export function etcdEndpointsOf(config: Config): string[] {
  return splitUrls(config.etcdEndpoints);
}

export function openMetaConnection(config: Config): EtcdConnection {
  return createEtcdClient({ endpoints: etcdEndpointsOf(config), maxReceiveBytes: config.etcdMaxReceiveBytes, callTimeoutMs: config.etcdCallTimeoutMs });
}

/** The connection to the shard logs' cluster: a new one for --etcd-logs, else the metadata connection itself. */
export function openLogConnection(config: Config, meta: EtcdConnection): EtcdConnection {
  const endpoints = splitUrls(config.etcdLogEndpoints);
  if (endpoints.length === 0) return meta;
  return createEtcdClient({ endpoints, maxReceiveBytes: config.etcdMaxReceiveBytes, callTimeoutMs: config.etcdCallTimeoutMs });
}

/** Closes the log connection when it is not the metadata one. */
export function closeLogConnection(logs: EtcdConnection, meta: EtcdConnection): void {
  if (logs !== meta) logs.client.close();
}

function splitUrls(text: string): string[] {
  return text.split(',').map((url) => url.trim()).filter((url) => url.length > 0);
}

// A second "proxy" as its own process, for the test of what a dead proxy leaves behind: it opens an
// EtcdQuotaStore, takes the concurrency slots it is told to, says "ready" and waits to be SIGKILLed.
// argv: <endpoints, comma-separated> <etcdPrefix> <proxyId> <role> <slots> <limit> <leaseTtlSeconds>
import { EtcdQuotaStore } from '../../src/cluster/etcd-quotas.ts';
import { makeConfig } from '../../src/config.ts';
import { createEtcdClient } from '../../src/storage/etcd-client.ts';

const [endpointList, etcdPrefix, proxyId, role, slots, limit, ttl] = process.argv.slice(2) as [string, string, string, string, string, string, string];
const endpoints = endpointList.split(',');
const config = makeConfig({ etcdPrefix, proxyLeaseTtlSeconds: Number(ttl) });
const client = createEtcdClient({ endpoints, callTimeoutMs: config.etcdCallTimeoutMs, maxReceiveBytes: 64 * 1024 * 1024 }).client;
const store = await EtcdQuotaStore.open({ client, endpoints, config, proxyId });
for (let i = 0; i < Number(slots); i++) {
  if ((await store.acquire(role, Number(limit))) === null) throw new Error(`slot ${i} of ${slots} refused`);
}
process.stdout.write('ready\n');
setInterval(() => undefined, 60_000);

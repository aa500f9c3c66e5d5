// The ShardTransport contract against GrpcTransport over real `vectorgate worker` processes: a shard
// exists once a catalog entry (1 shard, 1 replica) is placed on a worker by the placement controller,
// rows reach it as the proxy writes them (one guarded etcd transaction of record-codec bodies), and a
// host dies by SIGKILL of the worker process that holds it (restarted once its lease has ended).
// The two-phase requests, snapshot requests, closeShard/open and the hosts' queue limits are the threads' only.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workerKey } from '../../src/cluster/cluster-keys.ts';
import { startController } from '../../src/cluster/controller.ts';
import { EtcdMembers } from '../../src/cluster/etcd-members.ts';
import { GrpcTransport } from '../../src/cluster/grpc-transport.ts';
import { LocalCluster } from '../../src/cluster/local-cluster.ts';
import type { Config } from '../../src/config.ts';
import { EtcdLogWriter } from '../../src/storage/etcd-log.ts';
import { encodeBody, type Op } from '../../src/storage/record-codec.ts';
import type { UpsertRows } from '../../src/router/worker-protocol.ts';
import { shardTransportContract } from '../router/shard-transport-contract.ts';
import { clusterConfig, clusterEnv, connect, createCollection, placementOf, until } from './cluster-fixture.ts';
import { silent } from './cluster-world.ts';

const WORKERS = 2;
/** The settings the worker processes take from the test's config. */
const WORKER_SETTINGS: (keyof Config)[] = ['etcdPrefix', 'logLevel', 'shardWorkers', 'etcdCallTimeoutMs', 'etcdTailCheckMs', 'etcdWatchRetryMs',
  'workerLeaseTtlSeconds', 'workerReportIntervalMs', 'workerEtcdRetryMs', 'workerEtcdRetryMaxMs', 'workerOpenRetryMs', 'shutdownGraceMs'];

function opsOf(dims: number, upsert: UpsertRows, deletes: string[]): Op[] {
  const upserts: Op[] = upsert.ids.map((id, i) => ({ op: 'upsert', id, vector: upsert.vectors.slice(i * dims, (i + 1) * dims), payload: upsert.payloads[i] ?? null }));
  return [...upserts, ...deletes.map((id): Op => ({ op: 'delete', id }))];
}

shardTransportContract({
  name: 'gRPC to worker processes',
  capabilities: { writeRequests: false, opensShards: false, queueLimit: false, snapshotRequests: true, localLog: false, hostsDie: true, unknownShardCode: '57P03' },
  async start(base) {
    const dir = mkdtempSync(join(tmpdir(), 'vg-grpc-contract-'));
    const etcd = await EtcdMembers.start({ count: 1, dir: join(dir, 'etcd') });
    // A long placement grace: a killed worker's replica stays placed on it, so it is that worker that comes back up with the shard.
    const config = clusterConfig(etcd.urls, { logLevel: 'warn', shardWorkers: base.shardWorkers, clusterReadTimeoutMs: 10_000, placementGraceMs: 600_000 });
    const conn = connect(config);
    const stops: (() => Promise<void>)[] = [async () => { conn.client.close(); }, () => etcd.stop(), async () => rmSync(dir, { recursive: true, force: true })];
    const stopAll = async () => { for (const stop of stops.splice(0)) await stop().catch((err: unknown) => console.error('stop failed:', err)); };
    try {
      const cluster = await LocalCluster.start({ dir, upstream: { host: '127.0.0.1', port: 1 }, etcdUrls: etcd.urls, workers: WORKERS, proxies: 0, env: clusterEnv(config, WORKER_SETTINGS) });
      stops.unshift(() => cluster.stop());
      const controller = startController({ conn, config, id: 'contract-controller', log: silent });
      stops.unshift(() => controller.stop());
      const transport = await GrpcTransport.open({ conn, config, log: silent });
      const writer = new EtcdLogWriter(conn, config);
      const dims = new Map<string, number>();
      const workerIds = () => cluster.workers.map((_, i) => readFileSync(join(dir, `worker-${i}`, 'worker-id'), 'utf8').trim());
      const appliedThrough = (shard: string, seq: number) => until(`${shard} to apply seq ${seq}`, async () =>
        ((await transport.call({ type: 'stats', shard }).catch(() => null))?.lastApplied ?? -1) >= seq ? true : undefined);
      return {
        transport,
        async createShard(name, _dir, spec) {
          const entry = await createCollection(conn, config, name, 1, 1, { dims: spec.dims });
          const key = `${entry.dir}/0`;
          dims.set(key, entry.dims);
          await appliedThrough(key, 0);
          return key;
        },
        async write(shard, upsert, deletes = []) {
          const [seq] = await writer.appendAtomic([{ log: shard, bodies: [encodeBody(dims.get(shard)!, opsOf(dims.get(shard)!, upsert, deletes))] }]);
          await appliedThrough(shard, seq!);
          return seq!;
        },
        async killHostOf(shard) {
          const [replica] = await placementOf(conn, config, shard);
          const i = workerIds().indexOf(replica!.worker);
          await cluster.workers[i]!.kill('SIGKILL');
          // Restarted only once its lease has ended, so the transport sees the worker go and come back.
          await until(`the lease of ${replica!.worker} to end`, async () => (await conn.client.get(workerKey(config.etcdPrefix, replica!.worker)).exists() ? undefined : true));
          await cluster.workers[i]!.start();
        },
        stop: stopAll,
      };
    } catch (err) {
      await stopAll();
      throw err;
    }
  },
});

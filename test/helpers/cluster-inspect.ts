// Looks inside a running test cluster without going through a proxy: the catalog entry, placement
// and worker addresses from etcd, and each replica's own answers over gRPC. The kill trials use it
// to check every replica, not just the one a proxy happens to ask.
import { makeConfig } from '../../src/config.ts';
import { WorkerClient } from '../../src/cluster/worker-client.ts';
import type { PlacedReplica } from '../../src/cluster/placement-plan.ts';
import { shardOf } from '../../src/router/router.ts';
import type { StoredRow } from '../../src/engine/shard.ts';
import { createEtcdClient, withDeadline, type EtcdConnection } from '../../src/storage/etcd-client.ts';
import type { CollectionEntry } from '../../src/storage/catalog-store.ts';

const PREFIX = '/vectorgate/';
const config = makeConfig({ grpcCallTimeoutMs: 5000 });

export class ClusterInspector {
  readonly #conn: EtcdConnection;
  readonly #clients = new Map<string, WorkerClient>();

  constructor(etcdUrls: string) {
    this.#conn = createEtcdClient({ endpoints: etcdUrls.split(','), maxReceiveBytes: 64 * 1024 * 1024, callTimeoutMs: 5000 });
  }

  /** One value (or null), sent again past a member that is down, as the product's calls are. */
  #get(key: string): Promise<string | null> {
    return withDeadline(this.#conn, 5000, `read ${key}`, (options) => this.#conn.client.get(key).options(options).string());
  }

  async entry(database: string, name: string): Promise<CollectionEntry> {
    const value = await this.#get(`${PREFIX}catalog/${database}/${name}`);
    if (value === null) throw new Error(`no catalog entry for ${database}/${name}`);
    return JSON.parse(value) as CollectionEntry;
  }

  async placement(shard: string): Promise<PlacedReplica[]> {
    const value = await this.#get(`${PREFIX}placement/${shard}`);
    return value === null ? [] : (JSON.parse(value) as { replicas: PlacedReplica[] }).replicas;
  }

  /** Serving reports per worker id for the shard. */
  async reports(shard: string): Promise<Map<string, { applied: number; serving: boolean }>> {
    const kvs = await withDeadline(this.#conn, 5000, 'read reports', (options) => this.#conn.client.getAll().prefix(`${PREFIX}replicas/${shard}/`).options(options).strings());
    return new Map(Object.entries(kvs).map(([key, value]) => [key.slice(key.lastIndexOf('/') + 1), JSON.parse(value) as { applied: number; serving: boolean }]));
  }

  async address(worker: string): Promise<string | null> {
    const value = await this.#get(`${PREFIX}workers/${worker}`);
    return value === null ? null : (JSON.parse(value) as { address: string }).address;
  }

  /** The log's last committed seq of the shard. */
  async committed(shard: string): Promise<number> {
    const value = await this.#get(`${PREFIX}log/${shard}/next`);
    return value === null ? 0 : Number(value) - 1;
  }

  /** The lowest seq the shard's log still holds (above 1 once the controller truncated it). */
  async first(shard: string): Promise<number> {
    const value = await this.#conn.client.get(`${PREFIX}log/${shard}/first`).string();
    return value === null ? 1 : Number(value);
  }

  /** Every shard has `replicas` serving reports from placed, live workers, each applied up to the log's end. */
  async settled(entry: CollectionEntry): Promise<boolean> {
    for (let i = 0; i < entry.shards; i++) {
      const shard = `${entry.dir}/${i}`;
      const committed = await this.committed(shard);
      const reports = await this.reports(shard);
      const placed = (await this.placement(shard)).filter((r) => r.state !== 'leaving');
      if (placed.length < entry.replicas) return false;
      for (const replica of placed) {
        const report = reports.get(replica.worker);
        if (report === undefined || !report.serving || report.applied < committed) return false;
        if (await this.address(replica.worker) === null) return false;
      }
    }
    return true;
  }

  /** Each placed replica's copy of the rows (by worker id), read from the worker itself. */
  async rowsOnEveryReplica(entry: CollectionEntry, ids: readonly string[]): Promise<Map<string, Map<string, StoredRow | null>>> {
    const out = new Map<string, Map<string, StoredRow | null>>();
    for (let i = 0; i < entry.shards; i++) {
      const shard = `${entry.dir}/${i}`;
      const mine = ids.filter((id) => shardOf(id, entry.shards) === i);
      for (const replica of (await this.placement(shard)).filter((r) => r.state !== 'leaving')) {
        const address = await this.address(replica.worker);
        if (address === null) throw new Error(`worker ${replica.worker} of ${shard} is not registered`);
        const client = this.#client(address);
        const rows = out.get(`${replica.worker}/${i}`) ?? new Map<string, StoredRow | null>();
        for (const id of mine) rows.set(id, await client.call({ type: 'get', shard, id }));
        out.set(`${replica.worker}/${i}`, rows);
      }
    }
    return out;
  }

  /** Row counts of every placed replica of every shard, by `<worker>/<shard>`. */
  async counts(entry: CollectionEntry): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (let i = 0; i < entry.shards; i++) {
      const shard = `${entry.dir}/${i}`;
      for (const replica of (await this.placement(shard)).filter((r) => r.state !== 'leaving')) {
        const address = await this.address(replica.worker);
        if (address === null) continue;
        out.set(`${replica.worker}/${i}`, (await this.#client(address).call({ type: 'stats', shard })).count);
      }
    }
    return out;
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    this.#conn.client.close();
  }

  #client(address: string): WorkerClient {
    let client = this.#clients.get(address);
    if (client === undefined) this.#clients.set(address, (client = new WorkerClient(address, config)));
    return client;
  }
}

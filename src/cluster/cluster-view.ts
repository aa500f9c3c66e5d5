// What a proxy knows of the cluster's workers, from etcd: the live workers (workers/<id>, under their
// leases), where each shard's replicas are placed (placement/<dir>/<shard>) and what each replica
// reports (replicas/<dir>/<shard>/<worker>: applied seq, serving). Three EtcdMirrors keep it current;
// values are parsed once per change, so choosing a replica per read costs no JSON and no etcd call.
import type { EtcdConnection } from '../storage/etcd-client.ts';
import { EtcdMirror, type MirrorChange } from '../storage/etcd-mirror.ts';
import { parsePlacement, parseReport, parseWorker, PLACEMENT, REPLICAS, splitReplicaKey, WORKERS, type ReplicaReportValue } from './cluster-keys.ts';
import type { PlacedReplica } from './placement-plan.ts';

export interface WorkerInfo { id: string; address: string; zone: string; capacity: number }
export type ReplicaReport = ReplicaReportValue;

/** A replica a read may go to: placed, on a live worker, and reporting that it serves. */
export interface ServingReplica { worker: WorkerInfo; report: ReplicaReport }

export interface ClusterViewOptions { conn: EtcdConnection; prefix: string; callTimeoutMs: number; retryMs: number }

export class ClusterView {
  readonly #mirrors: EtcdMirror[];
  readonly #workers = new Map<string, WorkerInfo>();
  readonly #placement = new Map<string, PlacedReplica[]>();
  /** Shard key → worker id → report. */
  readonly #reports = new Map<string, Map<string, ReplicaReport>>();
  readonly #listeners = new Set<() => void>();
  readonly #workerListeners = new Set<(kind: 'up' | 'down', worker: WorkerInfo) => void>();

  private constructor(mirrors: EtcdMirror[]) {
    this.#mirrors = mirrors;
  }

  static async open(options: ClusterViewOptions): Promise<ClusterView> {
    const open = (name: string) => EtcdMirror.open({ conn: options.conn, prefix: `${options.prefix}${name}`, callTimeoutMs: options.callTimeoutMs, retryMs: options.retryMs });
    const mirrors: EtcdMirror[] = [];
    try {
      for (const name of [WORKERS, PLACEMENT, REPLICAS]) mirrors.push(await open(name));
    } catch (err) {
      await Promise.allSettled(mirrors.map((m) => m.close()));
      throw err;
    }
    const view = new ClusterView(mirrors);
    const [workers, placement, replicas] = mirrors as [EtcdMirror, EtcdMirror, EtcdMirror];
    view.#onWorkers([...workers.entries()].map(([key, value]) => ({ kind: 'put', key, value })));
    view.#onPlacement([...placement.entries()].map(([key, value]) => ({ kind: 'put', key, value })));
    view.#onReports([...replicas.entries()].map(([key, value]) => ({ kind: 'put', key, value })));
    workers.onChange((changes) => { view.#onWorkers(changes); view.#changed(); });
    placement.onChange((changes) => { view.#onPlacement(changes); view.#changed(); });
    replicas.onChange((changes) => { view.#onReports(changes); view.#changed(); });
    return view;
  }

  /** The replicas of a shard that may answer a read now, in placement order. */
  serving(shard: string): ServingReplica[] {
    const out: ServingReplica[] = [];
    for (const placed of this.#placement.get(shard) ?? []) {
      if (placed.state === 'joining') continue;
      const worker = this.#workers.get(placed.worker);
      const report = this.#reports.get(shard)?.get(placed.worker);
      if (worker !== undefined && report?.serving === true) out.push({ worker, report });
    }
    return out;
  }

  /** The workers placed for a shard (any state), for error messages. */
  placed(shard: string): PlacedReplica[] { return this.#placement.get(shard) ?? []; }

  worker(id: string): WorkerInfo | undefined { return this.#workers.get(id); }

  /** Shards placed on a worker. */
  shardsOf(workerId: string): string[] {
    return [...this.#placement].filter(([, replicas]) => replicas.some((r) => r.worker === workerId)).map(([shard]) => shard);
  }

  /** Called after any change of workers, placement or reports. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  /** A worker registered (up) or its lease ended (down). */
  onWorker(listener: (kind: 'up' | 'down', worker: WorkerInfo) => void): () => void {
    this.#workerListeners.add(listener);
    return () => { this.#workerListeners.delete(listener); };
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    this.#workerListeners.clear();
    await Promise.allSettled(this.#mirrors.map((m) => m.close()));
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }

  #onWorkers(changes: MirrorChange[]): void {
    for (const change of changes) {
      const info = parseWorker(change.value);
      if (info === null) continue;
      if (change.kind === 'put') {
        const known = this.#workers.has(change.key);
        this.#workers.set(change.key, { id: change.key, address: info.address, zone: info.zone, capacity: info.capacity });
        if (!known) for (const listener of this.#workerListeners) listener('up', this.#workers.get(change.key)!);
      } else {
        const gone = this.#workers.get(change.key);
        this.#workers.delete(change.key);
        if (gone !== undefined) for (const listener of this.#workerListeners) listener('down', gone);
      }
    }
  }

  #onPlacement(changes: MirrorChange[]): void {
    for (const change of changes) {
      if (change.kind === 'delete') { this.#placement.delete(change.key); continue; }
      const value = parsePlacement(change.value);
      if (value !== null) this.#placement.set(change.key, value.replicas);
    }
  }

  #onReports(changes: MirrorChange[]): void {
    for (const change of changes) {
      const split = splitReplicaKey(change.key);
      if (split === null) continue;
      const { shard, worker } = split;
      if (change.kind === 'delete') {
        this.#reports.get(shard)?.delete(worker);
        continue;
      }
      const report = parseReport(change.value);
      if (report === null) continue;
      let byWorker = this.#reports.get(shard);
      if (byWorker === undefined) this.#reports.set(shard, (byWorker = new Map()));
      byWorker.set(worker, report);
    }
  }
}

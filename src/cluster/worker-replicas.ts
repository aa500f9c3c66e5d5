// The replicas a worker process holds, following the controller's placement: every shard whose
// placement/ key names this worker as joining or serving is open here (a ReplicaHost over follower
// logs on etcd), the others are closed — and their files deleted once the placement no longer names
// this worker at all (a `leaving` replica keeps its files: the controller may take it back).
// Opening: a replica whose newest local snapshot is older than the log's first record (the log was
// truncated past it, or the data directory was wiped) first copies the newest snapshot of a peer that
// serves the shard, then replays the log from there. A replica whose tail stops (truncated past it
// while it was behind) is closed and opened again the same way.
import { rm } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { readdirSync } from 'node:fs';
import type { Config } from '../config.ts';
import type { IndexSpec } from '../engine/vector-index.ts';
import type { Logger } from '../log.ts';
import { ReplicaHost } from '../router/replica-host.ts';
import type { CatalogStore, CollectionEntry } from '../storage/catalog-store.ts';
import type { EtcdConnection } from '../storage/etcd-client.ts';
import { EtcdLogWriter, EtcdShardLog } from '../storage/etcd-log.ts';
import { logKeys, readCounters } from '../storage/etcd-log-read.ts';
import type { EtcdMirror } from '../storage/etcd-mirror.ts';
import { listSnapshots, type SnapshotRef } from '../storage/snapshot.ts';
import { dirOfShard, parsePlacement, parseReport, parseWorker, type ReplicaReportValue } from './cluster-keys.ts';
import { FollowerLog } from './follower-log.ts';
import type { WorkerClients } from './worker-client.ts';

export interface WorkerReplicasOptions {
  id: string;
  /** Replicas live in <dataDir>/replicas/<dir>/<shard>. */
  dataDir: string;
  config: Config;
  log: Logger;
  conn: EtcdConnection;
  /** The shard logs' cluster (the metadata's unless --etcd-logs). */
  logConn: EtcdConnection;
  catalog: CatalogStore;
  /** Mirrors of placement/, replicas/ and workers/ (keys without the prefix). */
  placement: EtcdMirror;
  reports: EtcdMirror;
  workers: EtcdMirror;
  peers: WorkerClients;
  /** A replica started serving (the worker reports at once). */
  onServing: () => void;
  /** A replica is no longer held here: its replicas/ key goes. */
  onDropped: (shard: string) => void;
}

export const REPLICAS_DIR = 'replicas';

export class WorkerReplicas {
  readonly host: ReplicaHost;
  readonly #options: WorkerReplicasOptions;
  readonly #logs = new Map<string, EtcdShardLog>();
  readonly #serving = new Set<string>();
  /** Shard → when opening it last failed (retried after workerOpenRetryMs). */
  readonly #failedAt = new Map<string, number>();
  #chain: Promise<void> = Promise.resolve();
  #again = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #sweptDisk = false;
  #closed = false;

  constructor(options: WorkerReplicasOptions) {
    this.#options = options;
    const writer = new EtcdLogWriter(options.logConn, options.config);
    this.host = new ReplicaHost(options.config, async (shardDir) => {
      const shard = this.#shardOfDir(shardDir);
      const log = await EtcdShardLog.open(options.logConn, writer, shard, options.config);
      this.#logs.set(shard, log);
      return new FollowerLog(log);
    });
  }

  /** Shard keys open here. */
  get shards(): string[] { return this.host.shards.sort(); }

  /** Brings the open replicas in line with placement and catalog; calls made meanwhile run once after. */
  reconcile(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#again) return this.#chain;
    this.#again = true;
    this.#chain = this.#chain.then(async () => {
      this.#again = false;
      if (!this.#closed) await this.#reconcileOnce();
    }).catch((err: unknown) => {
      // The next change or retry reconciles again; the chain itself must stay usable.
      this.#options.log.error({ err: err instanceof Error ? err.message : String(err) }, 'reconciling replicas with placement failed');
      this.#scheduleRetry();
    });
    return this.#chain;
  }

  /** What this worker reports of each open replica; notes the ones that became serving. */
  reportsNow(): Map<string, ReplicaReportValue> {
    const out = new Map<string, ReplicaReportValue>();
    for (const shard of this.host.shards) {
      const replica = this.host.replica(shard);
      const log = this.#logs.get(shard);
      if (replica === undefined || log === undefined) continue;
      if (log.failure !== null) {
        this.#restart(shard, log.failure.message);
        continue;
      }
      if (!this.#serving.has(shard) && replica.lastApplied >= log.lastSeq) {
        this.#serving.add(shard);
        this.#options.log.info({ shard, applied: replica.lastApplied }, 'replica serving');
        this.#options.onServing();
      }
      const stats = replica.stats();
      out.set(shard, { applied: replica.lastApplied, logSeq: log.lastSeq, snapshotSeq: stats.snapshotSeq, caughtUpAt: replica.caughtUpAt, serving: this.#serving.has(shard) });
    }
    return out;
  }

  memoryBytes(): number {
    let bytes = 0;
    for (const shard of this.host.shards) bytes += this.host.replica(shard)?.stats().memoryBytes ?? 0;
    return bytes;
  }

  /** The newest snapshot of a shard open here, for a peer that rebuilds (null: none). */
  snapshotSource = async (shard: string): Promise<SnapshotRef | null> => {
    const replica = this.host.replica(shard);
    return replica === undefined ? null : listSnapshots(replica.dir)[0] ?? null;
  };

  /** Snapshots every replica (so a restart replays little), then closes them all. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    await this.#chain.catch(() => undefined);
    for (const shard of this.host.shards) {
      try {
        await this.host.handle({ type: 'snapshot', shard });
      } catch (err) {
        this.#options.log.warn({ shard, err: String(err) }, 'snapshot at shutdown failed');
      }
    }
    await this.host.close();
  }

  async #reconcileOnce(): Promise<void> {
    const { placedHere, wanted } = this.#placed();
    for (const shard of this.host.shards) {
      if (wanted.has(shard)) continue;
      await this.#closeReplica(shard, placedHere.has(shard) ? 'placed here as leaving' : 'no longer placed here');
      if (!placedHere.has(shard)) await rm(this.#shardDir(shard), { recursive: true, force: true });
    }
    if (!this.#sweptDisk) {
      this.#sweptDisk = true;
      await this.#sweepDisk(placedHere);
    }
    const entries = new Map(this.#options.catalog.list().map((e) => [e.dir, e]));
    let failed = false;
    for (const shard of wanted) {
      if (this.host.replica(shard) !== undefined) continue;
      const entry = entries.get(dirOfShard(shard));
      if (entry === undefined) continue; // the catalog watch has not delivered it yet: its change triggers us again
      const failedAt = this.#failedAt.get(shard);
      if (failedAt !== undefined && Date.now() - failedAt < this.#options.config.workerOpenRetryMs) {
        failed = true;
        continue;
      }
      try {
        await this.#open(shard, entry);
        this.#failedAt.delete(shard);
      } catch (err) {
        failed = true;
        this.#failedAt.set(shard, Date.now());
        this.#options.log.warn({ shard, err: err instanceof Error ? err.message : String(err) }, 'could not open replica; retrying');
      }
    }
    if (failed) this.#scheduleRetry();
  }

  /** Shards whose placement names this worker (any state), and those it should hold open. */
  #placed(): { placedHere: Set<string>; wanted: Set<string> } {
    const placedHere = new Set<string>();
    const wanted = new Set<string>();
    for (const [shard, value] of this.#options.placement.entries()) {
      const mine = parsePlacement(value)?.replicas.find((r) => r.worker === this.#options.id);
      if (mine === undefined) continue;
      placedHere.add(shard);
      if (mine.state !== 'leaving') wanted.add(shard);
    }
    return { placedHere, wanted };
  }

  async #open(shard: string, entry: CollectionEntry): Promise<void> {
    const shardDir = this.#shardDir(shard);
    const { config, logConn } = this.#options;
    const { first } = await readCounters(logConn, logKeys(config.etcdPrefix, shard), config.etcdCallTimeoutMs);
    const localSeq = listSnapshots(shardDir)[0]?.seq ?? 0;
    // The log lacks what lies between our snapshot and its first record: only a peer's snapshot has
    // it — also when the log holds nothing at all any more (truncated up to its end: an idle shard).
    if (first > localSeq + 1) await this.#copyFromPeer(shard, shardDir, first);
    await this.host.handle({ type: 'open', shard, dir: shardDir, spec: specOf(entry), committed: [] });
    this.#options.log.info({ shard, applied: this.host.replica(shard)?.lastApplied }, 'replica opened');
  }

  /** The newest snapshot of a peer that serves the shard, best caught up first. */
  async #copyFromPeer(shard: string, shardDir: string, first: number): Promise<void> {
    const peers: { address: string; applied: number }[] = [];
    for (const [key, value] of this.#options.reports.entries()) {
      if (!key.startsWith(`${shard}/`)) continue;
      const worker = key.slice(shard.length + 1);
      const report = parseReport(value);
      const registration = this.#options.workers.get(worker);
      const address = registration === undefined ? undefined : parseWorker(registration)?.address;
      if (worker === this.#options.id || report === null || !report.serving || address === undefined) continue;
      if (report.snapshotSeq + 1 < first) continue; // its snapshot is as far behind the log as ours
      peers.push({ address, applied: report.applied });
    }
    peers.sort((a, b) => b.applied - a.applied || a.address.localeCompare(b.address));
    const failures: string[] = [];
    for (const peer of peers) {
      try {
        const ref = await this.#options.peers.get(peer.address).snapshot(shard, shardDir);
        this.#options.log.info({ shard, peer: peer.address, seq: ref.seq }, 'copied a peer snapshot (the log no longer holds what this replica lacks)');
        return;
      } catch (err) {
        failures.push(`${peer.address}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    throw new Error(`shard ${shard}: the log starts at ${first}, past this replica's snapshots, and no peer gave a snapshot` +
      (failures.length === 0 ? ' (no serving peer with a recent enough snapshot yet)' : ` (${failures.join('; ')})`));
  }

  async #closeReplica(shard: string, why: string): Promise<void> {
    this.#serving.delete(shard);
    this.#logs.delete(shard);
    await this.host.handle({ type: 'close', shard }).catch((err: unknown) => this.#options.log.warn({ shard, err: String(err) }, 'closing replica failed'));
    this.#options.onDropped(shard);
    this.#options.log.info({ shard, why }, 'replica closed');
  }

  /** The tail stopped (e.g. the log was truncated past it): close now, open again from a peer snapshot. */
  #restart(shard: string, why: string): void {
    this.#options.log.error({ shard, err: why }, 'replica stopped following its log; reopening it');
    this.#serving.delete(shard);
    this.#logs.delete(shard);
    this.#chain = this.#chain.then(async () => {
      await this.host.handle({ type: 'close', shard }).catch(() => undefined);
      this.#options.onDropped(shard);
    }).catch(() => undefined);
    void this.reconcile();
  }

  /** Directories of replicas left from an earlier run that placement no longer puts here. */
  async #sweepDisk(placedHere: Set<string>): Promise<void> {
    const root = join(this.#options.dataDir, REPLICAS_DIR);
    for (const dir of safeList(root)) {
      for (const index of safeList(join(root, dir))) {
        const shard = `${dir}/${index}`;
        if (placedHere.has(shard)) continue;
        this.#options.log.info({ shard }, 'removing a replica placement no longer puts here');
        await rm(join(root, dir, index), { recursive: true, force: true });
      }
      if (safeList(join(root, dir)).length === 0) await rm(join(root, dir), { recursive: true, force: true });
    }
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== null || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      void this.reconcile();
    }, this.#options.config.workerOpenRetryMs);
  }

  #shardDir(shard: string): string {
    return join(this.#options.dataDir, REPLICAS_DIR, ...shard.split('/'));
  }

  /** The shard key of a replica directory: its last two path parts. */
  #shardOfDir(shardDir: string): string {
    return relative(join(this.#options.dataDir, REPLICAS_DIR), shardDir).split(sep).slice(-2).join('/');
  }
}

function specOf(entry: CollectionEntry): IndexSpec {
  return { dims: entry.dims, metric: entry.metric, quantization: entry.quantization, m: entry.m, efConstruction: entry.efConstruction, engine: entry.engine };
}

function safeList(dir: string): string[] {
  try { return readdirSync(dir); } catch { return []; }
}

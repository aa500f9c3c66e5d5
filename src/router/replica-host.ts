// Hosts shard replicas and answers worker-protocol requests for them: the body of a shard worker
// thread (shard-worker.ts) and, later, of a worker process. Whoever builds it says how a replica's log
// is opened (the local WAL, or etcd). A read with a bound (worker-protocol ReadBound) waits, up to its
// waitMs, until the replica has applied minSeq and was caught up within maxStalenessMs; then 57014.
import type { Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import type { ShardLog } from '../storage/shard-log.ts';
import { ShardReplica, type ReplicaOptions } from './shard-replica.ts';
import type { ShardHit } from '../engine/shard.ts';
import type { ReadBound, Request } from './worker-protocol.ts';
import { opsOf } from './write-path.ts';

export type OpenLog = (shardDir: string) => Promise<ShardLog>;

export class ReplicaHost {
  readonly #config: Config;
  readonly #openLog: OpenLog;
  readonly #options: ReplicaOptions;
  readonly #replicas = new Map<string, ShardReplica>();
  #timer: NodeJS.Timeout | null = null;
  #checking = false;

  constructor(config: Config, openLog: OpenLog, options: ReplicaOptions = {}) {
    this.#config = config;
    this.#openLog = openLog;
    this.#options = options;
  }

  /** The keys of the shards open here. */
  get shards(): string[] { return [...this.#replicas.keys()]; }

  /** The replica of an open shard (its directory and snapshots, for snapshot transfer). */
  replica(shard: string): ShardReplica | undefined { return this.#replicas.get(shard); }

  /** Answers one request; rejects with what the request did wrong (VectorgateError) or a bug. */
  async handle(req: Request): Promise<unknown> {
    switch (req.type) {
      case 'open': await this.#open(req); return null;
      case 'close': {
        const r = this.#replicas.get(req.shard);
        this.#replicas.delete(req.shard);
        await r?.close();
        return null;
      }
      case 'write': return this.#replica(req.shard).write(opsOf(req));
      case 'prepare': return this.#replica(req.shard).prepare(req.txid, opsOf(req));
      case 'decide': return this.#replica(req.shard).decide(req.txid, req.commit);
      case 'retained': return this.#replica(req.shard).oldestRetainedTxid();
      case 'search': return (await this.#readable(req.shard, req.read)).search(req.query, req.k, req.options);
      case 'explain': return (await this.#readable(req.shard, req.read)).explain(req.query, req.k, req.options);
      case 'get': return (await this.#readable(req.shard, req.read)).get(req.id);
      case 'stats': return this.#replica(req.shard).stats();
      case 'snapshot': await this.#replica(req.shard).snapshot(); return null;
    }
  }

  /**
   * Searches of one shard with the same k and options, answered together (ShardReplica.searchMany);
   * null when the shard is not open here or a read's bound is not met yet: then ask handle() each.
   */
  searchMany(reqs: readonly Extract<Request, { type: 'search' }>[]): (ShardHit[] | Error)[] | null {
    const first = reqs[0];
    const replica = first === undefined ? undefined : this.#replicas.get(first.shard);
    if (first === undefined || replica === undefined || reqs.some((r) => r.read !== undefined && !satisfies(replica, r.read))) return null;
    return replica.searchMany(reqs.map((r) => r.query), first.k, first.options);
  }

  /** Checks every replica's snapshot cadence every snapshotCheckIntervalMs (until close). */
  startSnapshotTimer(): void {
    this.#timer ??= setInterval(() => void this.#checkSnapshots(), this.#config.snapshotCheckIntervalMs).unref();
  }

  /** Stops the timer and closes every replica (and so its log). */
  async close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    const replicas = [...this.#replicas.values()];
    this.#replicas.clear();
    await Promise.allSettled(replicas.map((r) => r.close()));
  }

  async #open(req: Extract<Request, { type: 'open' }>): Promise<void> {
    if (this.#replicas.has(req.shard)) throw new Error(`shard ${req.shard} is already open`);
    const log = await this.#openLog(req.dir);
    try {
      this.#replicas.set(req.shard, await ShardReplica.open(req.dir, req.spec, this.#config, log, new Set(req.committed), this.#options));
    } catch (err) {
      await log.close().catch(() => undefined);
      throw err;
    }
  }

  #replica(shard: string): ShardReplica {
    const r = this.#replicas.get(shard);
    if (r === undefined) throw new Error(`shard ${shard} is not open in this worker`);
    return r;
  }

  /** The replica once it satisfies the read's bound (none: at once). */
  async #readable(shard: string, read: ReadBound | undefined): Promise<ShardReplica> {
    const replica = this.#replica(shard);
    if (read === undefined || satisfies(replica, read)) return replica;
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!satisfies(replica, read)) return;
        stop();
        resolve();
      };
      const timer = setTimeout(() => {
        stop();
        if (satisfies(replica, read)) return resolve();
        reject(new VectorgateError(SqlState.QueryCanceled, boundMissed(shard, replica, read)));
      }, read.waitMs);
      const unsubscribe = replica.onApplied(check);
      const stop = (): void => { clearTimeout(timer); unsubscribe(); };
    });
    return replica;
  }

  async #checkSnapshots(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      for (const r of [...this.#replicas.values()]) {
        try { await r.maybeSnapshot(); } catch (err) { process.emitWarning(`snapshot of ${r.dir} failed: ${String(err)}`); }
      }
    } finally {
      this.#checking = false;
    }
  }
}

function satisfies(replica: ShardReplica, read: ReadBound): boolean {
  if (read.minSeq !== undefined && replica.lastApplied < read.minSeq) return false;
  return read.maxStalenessMs === undefined || Date.now() - replica.caughtUpAt <= read.maxStalenessMs;
}

/** The spec's message: the seq it waited for, or the staleness it could not meet. */
function boundMissed(shard: string, replica: ShardReplica, read: ReadBound): string {
  if (read.minSeq !== undefined && replica.lastApplied < read.minSeq) {
    return `replica of shard ${shard} did not apply seq ${read.minSeq} within ${read.waitMs} ms (it has applied ${replica.lastApplied})`;
  }
  const behindMs = Date.now() - replica.caughtUpAt;
  return `replica of shard ${shard} was not within ${read.maxStalenessMs} ms of its log within ${read.waitMs} ms (last caught up ${behindMs} ms ago)`;
}

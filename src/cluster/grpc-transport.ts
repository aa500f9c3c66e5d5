// The cluster's ShardTransport: reads go over gRPC to a replica of the shard on a `vectorgate worker`
// process, chosen from the placement and the replicas' own reports (ClusterView). Failover: a call
// that cannot reach its replica (worker down, shard not open there yet or any more, replica behind
// the read's bound) goes to the next serving replica while the read's time allows; with none left
// the read fails naming the shard and what was tried — never a partial answer. Writes never come
// here: in the cluster the proxy appends them to etcd itself (etcd-write-path.ts).
import type { Config } from '../config.ts';
import { SqlState, toVectorgateError, VectorgateError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { EtcdConnection } from '../storage/etcd-client.ts';
import type { HealthEvent, ShardRequest, ShardTransport } from '../router/shard-transport.ts';
import type { Results } from '../router/worker-protocol.ts';
import { ClusterView, type ServingReplica } from './cluster-view.ts';
import { WorkerClients } from './worker-client.ts';

export interface GrpcTransportOptions { conn: EtcdConnection; config: Config; log: Logger }

/** Failures after which another replica may answer: the replica was not reachable or not ready. */
const TRY_ANOTHER: ReadonlySet<string> = new Set([
  SqlState.ConnectionFailure, SqlState.AdminShutdown, SqlState.CannotConnectNow, SqlState.QueryCanceled,
  // The worker holds no open replica of the shard (still opening it, or placement moved it).
  SqlState.ObjectNotInPrerequisiteState,
  // The worker has as many requests in progress as it takes.
  SqlState.ConfigurationLimitExceeded,
]);
/** How often a read with no serving replica looks again (the view also wakes it on every change). */
const RECHECK_MS = 100;

export class GrpcTransport implements ShardTransport {
  readonly hostsReplicas = false;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #view: ClusterView;
  readonly #clients: WorkerClients;
  readonly #healthListeners = new Set<(event: HealthEvent) => void>();
  #closed = false;

  private constructor(options: GrpcTransportOptions, view: ClusterView) {
    this.#config = options.config;
    this.#log = options.log;
    this.#view = view;
    this.#clients = new WorkerClients(options.config);
    view.onWorker((kind, worker) => {
      const shards = view.shardsOf(worker.id);
      this.#log.info({ worker: worker.id, address: worker.address, shards: shards.length }, kind === 'up' ? 'worker joined' : 'worker lease ended');
      if (kind === 'down') this.#clients.drop(worker.address);
      const event: HealthEvent = { kind, host: worker.id, shards, reason: kind === 'up' ? 'registered' : 'lease ended' };
      for (const listener of this.#healthListeners) listener(event);
    });
  }

  static async open(options: GrpcTransportOptions): Promise<GrpcTransport> {
    const { conn, config } = options;
    const view = await ClusterView.open({ conn, prefix: config.etcdPrefix, callTimeoutMs: config.etcdCallTimeoutMs, retryMs: config.etcdWatchRetryMs });
    return new GrpcTransport(options, view);
  }

  /** Nothing to open from here: the placement controller puts the shard on workers, which open it. */
  async open(): Promise<void> {}

  async closeShard(): Promise<void> {}

  async call<R extends ShardRequest>(req: R): Promise<Results[R['type']]> {
    if (this.#closed) throw new VectorgateError(SqlState.AdminShutdown, 'the proxy is shutting down');
    switch (req.type) {
      case 'write': case 'prepare': case 'decide': case 'retained':
        throw new VectorgateError(SqlState.InternalError, `a ${req.type} request reached the gRPC transport: cluster writes go to etcd`);
      case 'snapshot':
        await Promise.all(this.#view.serving(req.shard).map((r) => this.#clients.get(r.worker.address).call(req)));
        return null as Results[R['type']];
      default:
        return this.#read(req);
    }
  }

  /** The highest seq a serving replica of the shard reports applied (null: none serves). */
  appliedOf(shard: string): number | null {
    const serving = this.#view.serving(shard);
    return serving.length === 0 ? null : Math.max(...serving.map((r) => r.report.applied));
  }

  onHealth(listener: (event: HealthEvent) => void): () => void {
    this.#healthListeners.add(listener);
    return () => { this.#healthListeners.delete(listener); };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#healthListeners.clear();
    await this.#view.close();
    this.#clients.close();
  }

  /** One replica's answer, trying the serving replicas in turn until one answers or the time is up. */
  async #read<R extends ShardRequest>(req: R): Promise<Results[R['type']]> {
    const waitMs = 'read' in req && req.read !== undefined ? req.read.waitMs : this.#config.clusterReadTimeoutMs;
    const deadlineMs = Date.now() + waitMs;
    // A shard's replicas are tried in turn, again and again while the time allows.
    const failures: string[] = [];
    const tried = new Set<string>();
    let behind = false;
    for (;;) {
      const replica = this.#pick(req, tried);
      if (replica === null) {
        if (Date.now() >= deadlineMs) throw this.#noReplica(req.shard, failures, waitMs, behind);
        await this.#changeOrTimeout(Math.min(RECHECK_MS, deadlineMs - Date.now()));
        if (tried.size > 0 && this.#view.serving(req.shard).every((r) => tried.has(r.worker.id))) tried.clear();
        continue;
      }
      tried.add(replica.worker.id);
      const remainingMs = Math.max(1, deadlineMs - Date.now());
      // A replica not known to meet the read's bound gets a slice of the time, so that one cut off
      // from its log cannot use up the read's whole budget while another could answer.
      const sliceMs = knownToMeet(replica, req) ? remainingMs : Math.min(remainingMs, this.#config.clusterReplicaWaitSliceMs);
      const sent = 'read' in req && req.read !== undefined ? { ...req, read: { ...req.read, waitMs: sliceMs } } : req;
      try {
        const result = await this.#clients.get(replica.worker.address).call(sent, { timeoutMs: remainingMs });
        if (req.type === 'explain') (result as Results['explain']).replica = replica.worker.id;
        return result as Results[R['type']];
      } catch (err) {
        const error = toVectorgateError(err);
        if (!TRY_ANOTHER.has(error.code)) throw error;
        failures.push(`${replica.worker.id} at ${replica.worker.address}: ${error.message}`);
        behind ||= error.code === SqlState.QueryCanceled;
        if (Date.now() >= deadlineMs) throw this.#noReplica(req.shard, failures, waitMs, behind);
      }
    }
  }

  /**
   * The next replica to ask, at random among those whose last report shows they meet the read's
   * bound (any, when none does), so reads spread over the replicas. null: none left untried.
   */
  #pick(req: ShardRequest, tried: ReadonlySet<string>): ServingReplica | null {
    const candidates = this.#view.serving(req.shard).filter((r) => !tried.has(r.worker.id));
    if (candidates.length === 0) return null;
    const meeting = candidates.filter((r) => knownToMeet(r, req));
    const from = meeting.length > 0 ? meeting : candidates;
    return from[Math.floor(Math.random() * from.length)]!;
  }

  #changeOrTimeout(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(1, ms));
      const unsubscribe = this.#view.onChange(done);
      function done(): void { clearTimeout(timer); unsubscribe(); resolve(); }
    });
  }

  /** behind: a replica answered but had not applied what the read needs (57014, as a statement timeout); else none answered (57P03). */
  #noReplica(shard: string, failures: string[], waitMs: number, behind: boolean): VectorgateError {
    const placed = this.#view.placed(shard).map((r) => `${r.worker} (${r.state}${this.#view.worker(r.worker) === undefined ? ', lease ended' : ''})`);
    const message = behind
      ? `no replica of shard ${shard} caught up with what the read needs within ${waitMs} ms`
      : `no replica of shard ${shard} answered within ${waitMs} ms`;
    return new VectorgateError(behind ? SqlState.QueryCanceled : SqlState.CannotConnectNow, message, {
      detail: [`placed on: ${placed.length === 0 ? 'no worker yet' : placed.join(', ')}`, ...failures].join('\n'),
      hint: 'Start or restart workers (vectorgate worker); a new collection is served once the placement controller has placed it.',
    });
  }
}

/** The replica's last report (at most workerReportIntervalMs old) shows it meets the read's bound. */
function knownToMeet(replica: ServingReplica, req: ShardRequest): boolean {
  const read = 'read' in req ? req.read : undefined;
  if (read === undefined) return true;
  if (read.minSeq !== undefined && replica.report.applied < read.minSeq) return false;
  return read.maxStalenessMs === undefined || Date.now() - replica.report.caughtUpAt <= read.maxStalenessMs;
}

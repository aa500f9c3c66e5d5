// What a worker publishes under its lease (keys: cluster-keys.ts): its registration workers/<id>
// (rewritten when it changes, else every workerHeartbeatIntervalMs) and one report per replica it
// holds, replicas/<dir>/<shard>/<id> (every workerReportIntervalMs, and at once when a replica starts
// serving). One tick is one etcd transaction (a few when there are more keys than etcd's default
// --max-txn-ops of 128 allows); a report of a replica closed here is deleted.
import type { IRequestOp } from 'etcd3';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { withDeadline, type EtcdConnection } from '../storage/etcd-client.ts';
import { replicaKey, workerKey, type ReplicaReportValue, type WorkerRegistration } from './cluster-keys.ts';

/** Operations per transaction, under etcd's default --max-txn-ops (128). */
const OPS_PER_TXN = 100;

export interface WorkerReporterOptions {
  conn: EtcdConnection;
  config: Config;
  id: string;
  log: Logger;
  registration: () => WorkerRegistration;
  reports: () => Map<string, ReplicaReportValue>;
  /** The lease held now (null: lost; nothing is written until a new one is granted). */
  leaseId: () => string | null;
}

export class WorkerReporter {
  readonly #options: WorkerReporterOptions;
  /** Shards whose report key this worker wrote under the current lease. */
  #reported = new Set<string>();
  #lastRegistration = '';
  #registeredAtMs = 0;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #failing = false;

  constructor(options: WorkerReporterOptions) { this.#options = options; }

  start(): void {
    this.#timer ??= setInterval(() => this.soon(), this.#options.config.workerReportIntervalMs);
  }

  /** Reports now (after the tick in progress, if any). */
  soon(): void {
    if (this.#running !== null) {
      this.#again = true;
      return;
    }
    this.#running = this.#tick().finally(() => {
      this.#running = null;
      if (this.#again) {
        this.#again = false;
        this.soon();
      }
    });
  }

  /** Everything again, under a new lease (the old one's keys are gone). */
  async register(): Promise<void> {
    this.#reported.clear();
    this.#lastRegistration = '';
    await this.#running?.catch(() => undefined);
    await this.#write();
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running?.catch(() => undefined);
  }

  async #tick(): Promise<void> {
    try {
      await this.#write();
      if (this.#failing) this.#options.log.info('replica reports reach etcd again');
      this.#failing = false;
    } catch (err) {
      // Logged once per outage: the lease's own loss is logged by WorkerLease.
      if (!this.#failing) this.#options.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not report replicas to etcd; retrying every report interval');
      this.#failing = true;
    }
  }

  async #write(): Promise<void> {
    const lease = this.#options.leaseId();
    if (lease === null) return;
    const { config, id, conn } = this.#options;
    const prefix = config.etcdPrefix;
    const ops: IRequestOp[] = [];
    const put = (key: string, value: unknown) => ops.push({ request_put: { key: Buffer.from(key), value: Buffer.from(JSON.stringify(value)), lease } });
    const reports = this.#options.reports();
    for (const [shard, report] of reports) put(replicaKey(prefix, shard, id), report);
    const gone = [...this.#reported].filter((shard) => !reports.has(shard));
    for (const shard of gone) ops.push({ request_delete_range: { key: Buffer.from(replicaKey(prefix, shard, id)) } });
    const registration = this.#options.registration();
    const { memoryBytes: _memory, ...stable } = registration;
    const text = JSON.stringify(stable);
    const now = Date.now();
    const register = text !== this.#lastRegistration || now - this.#registeredAtMs >= config.workerHeartbeatIntervalMs;
    if (register) put(workerKey(prefix, id), registration);
    for (let i = 0; i < ops.length; i += OPS_PER_TXN) {
      const chunk = ops.slice(i, i + OPS_PER_TXN);
      await withDeadline(conn, config.etcdCallTimeoutMs, 'report replicas', (options) => conn.client.kv.txn({ success: chunk }, options));
    }
    this.#reported = new Set(reports.keys());
    if (register) {
      this.#lastRegistration = text;
      this.#registeredAtMs = now;
    }
  }
}

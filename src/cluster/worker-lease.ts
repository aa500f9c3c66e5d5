// A worker's etcd lease (TTL workerLeaseTtlSeconds, kept alive by etcd3's keep-alive stream): its
// workers/ and replicas/ keys live under it, so they vanish this long after the worker dies and the
// controller places its replicas elsewhere (after placementGraceMs). When the lease is lost (etcd
// unreachable for longer than the TTL, or etcd says it expired) the keys are gone: the worker logs
// it, grants a new lease with back-off and re-registers (onRenewed), so it is never believed alive or
// serving on a stale registration. https://etcd.io/docs/v3.4/learning/api/#lease-api
import type { Lease } from 'etcd3';
import type { Logger } from '../log.ts';
import { withDeadline, type EtcdConnection } from '../storage/etcd-client.ts';

export interface WorkerLeaseOptions {
  conn: EtcdConnection;
  ttlSeconds: number;
  callTimeoutMs: number;
  retryMs: number;
  retryMaxMs: number;
  log: Logger;
  /** Re-registers under a new lease (its keys went with the old one). */
  onRenewed: (leaseId: string) => Promise<void>;
}

export class WorkerLease {
  readonly #options: WorkerLeaseOptions;
  #lease: Lease | null = null;
  #id: string | null = null;
  #retryTimer: NodeJS.Timeout | null = null;
  #retryMs: number;
  #stopped = false;

  constructor(options: WorkerLeaseOptions) {
    this.#options = options;
    this.#retryMs = options.retryMs;
  }

  /** The lease held now (null while it is lost and not granted again). */
  get id(): string | null { return this.#id; }

  /** Grants the first lease; rejects (08006) when etcd does not answer. */
  async start(): Promise<string> {
    return this.#grant();
  }

  /** Stops keeping it alive and revokes it: every key under it is deleted at once. */
  async revoke(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    const lease = this.#lease;
    this.#lease = null;
    this.#id = null;
    if (lease === null) return;
    const { conn, callTimeoutMs } = this.#options;
    await withDeadline(conn, callTimeoutMs, 'revoke the worker lease', (options) => lease.revoke(options));
  }

  async #grant(): Promise<string> {
    const { conn, ttlSeconds, callTimeoutMs } = this.#options;
    const lease = conn.client.lease(ttlSeconds, { autoKeepAlive: true });
    lease.on('lost', (err) => this.#lost(lease, err));
    try {
      const id = await withDeadline(conn, callTimeoutMs, 'grant the worker lease', () => lease.grant());
      if (this.#stopped) {
        lease.release();
        throw new Error('the worker is stopping');
      }
      this.#lease = lease;
      this.#id = id;
      return id;
    } catch (err) {
      lease.release();
      throw err;
    }
  }

  #lost(lease: Lease, err: Error): void {
    if (this.#stopped || lease !== this.#lease) return;
    this.#lease = null;
    this.#id = null;
    this.#options.log.warn({ err: err.message, ttlSeconds: this.#options.ttlSeconds },
      'worker lease lost: its registration and replica reports are gone from etcd until a new lease is granted');
    this.#scheduleRenew();
  }

  #scheduleRenew(): void {
    if (this.#stopped || this.#retryTimer !== null) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      void this.#renew();
    }, this.#retryMs);
  }

  async #renew(): Promise<void> {
    try {
      const id = await this.#grant();
      await this.#options.onRenewed(id);
      this.#retryMs = this.#options.retryMs;
      this.#options.log.info({ lease: id }, 'worker lease granted again; registered again');
    } catch (err) {
      if (this.#stopped) return;
      this.#options.log.warn({ err: err instanceof Error ? err.message : String(err), retryMs: this.#retryMs }, 'could not grant a new worker lease; retrying');
      this.#retryMs = Math.min(this.#retryMs * 2, this.#options.retryMaxMs);
      if (this.#lease !== null) {
        // Granted, but the registration failed: drop it, so the next attempt starts clean.
        this.#lease.release();
        this.#lease = null;
        this.#id = null;
      }
      this.#scheduleRenew();
    }
  }
}

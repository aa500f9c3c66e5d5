// The election of the placement controller, with etcd3's key layout (`election/<prefix>controller/
// <lease id>`, so etcd3's `client.election(prefix + 'controller').leader()` names the leader) but
// without etcd3's Campaign: that one learns it leads from a watch of its predecessor's key, which
// etcd3's watch resume can miss (field notes), and its watch outlives a resignation (a process that
// closed its client then never exits, reconnecting for ever). Here a candidate puts its key under a
// lease of controllerLeaseTtlSeconds and leads once its key is the oldest (lowest create revision),
// checked every placementIntervalMs. https://etcd.io/docs/v3.4/dev-guide/api_concurrency_reference_v3/
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lease } from 'etcd3';
import { withDeadline, type EtcdConnection } from '../storage/etcd-client.ts';

export interface CandidateOptions {
  conn: EtcdConnection;
  /** The election's key prefix, e.g. `election//vectorgate/controller/`. */
  prefix: string;
  /** The candidate's value (the proxy's id). */
  value: string;
  ttlSeconds: number;
  checkMs: number;
  callTimeoutMs: number;
}

export const electionPrefix = (etcdPrefix: string): string => `election/${etcdPrefix}controller/`;

export class Candidate {
  readonly #options: CandidateOptions;
  readonly #lease: Lease;
  readonly #resigned = new AbortController();
  /** Rejects when the lease is lost (the key is gone with it). */
  readonly lost: Promise<never>;
  #key: string | null = null;

  private constructor(options: CandidateOptions) {
    this.#options = options;
    this.#lease = options.conn.client.lease(options.ttlSeconds, { autoKeepAlive: true });
    this.lost = new Promise<never>((_, reject) => this.#lease.on('lost', (err) => reject(err)));
    this.lost.catch(() => undefined);
  }

  /** Puts the candidate's key under a new lease; rejects (08006) when etcd does not answer. */
  static async enter(options: CandidateOptions): Promise<Candidate> {
    const candidate = new Candidate(options);
    try {
      await candidate.#put();
    } catch (err) {
      await candidate.resign();
      throw err;
    }
    return candidate;
  }

  /** The candidate's key (what writes are guarded by). */
  get key(): string { return this.#key!; }

  /** Resolves once this candidate leads; never, if it resigns first. */
  async elected(): Promise<void> {
    const { conn, prefix, checkMs, callTimeoutMs } = this.#options;
    const signal = this.#resigned.signal;
    while (!signal.aborted) {
      const oldest = await withDeadline(conn, callTimeoutMs, 'read the controller election', (options) =>
        conn.client.getAll().prefix(prefix).sort('Create', 'Ascend').limit(1).options(options).keys()).catch(() => null);
      if (oldest?.[0] === this.#key) return;
      await sleep(checkMs, undefined, { signal }).catch(() => undefined);
    }
    await new Promise<never>(() => undefined);
  }

  /** Revokes the lease: the key goes at once, and the next candidate leads. */
  async resign(): Promise<void> {
    this.#resigned.abort();
    const { conn, callTimeoutMs } = this.#options;
    await withDeadline(conn, callTimeoutMs, 'resign from the controller election', (options) => this.#lease.revoke(options)).catch(() => this.#lease.release());
  }

  async #put(): Promise<void> {
    const { conn, prefix, value, callTimeoutMs } = this.#options;
    const leaseId = await withDeadline(conn, callTimeoutMs, 'enter the controller election', () => this.#lease.grant());
    const key = `${prefix}${leaseId}`;
    await withDeadline(conn, callTimeoutMs, 'enter the controller election', (options) => conn.client.kv.txn({
      compare: [{ key: Buffer.from(key), target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(value), lease: leaseId } }],
    }, options));
    this.#key = key;
  }
}

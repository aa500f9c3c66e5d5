// The QuotaStore of the cluster (docs/architecture.md, "Quotas"): one budget per role shared by every
// proxy. Each proxy registers `<prefix>proxies/<id>` under its own lease and watches that prefix, so
// it knows N, the live proxies; a role's rate is split evenly, each proxy running the local token
// buckets at rate / N (a proxy that dies returns its share once its lease expires). Concurrency slots
// are keys `<prefix>quota/<role>/slot/<proxy>/<n>` under the proxy's lease, so a dead proxy's slots
// vanish with it. A slot is taken by counting the role's slot keys at revision R and, if fewer than
// the limit, creating one in a transaction guarded by "no key in the range was created or changed
// after R" (a range compare: a new slot of another proxy fails it; a released one only frees room).
// The role is URI-encoded in the key, so a role name holding `/` cannot reach into another's range.
import { randomUUID } from 'node:crypto';
import type { Etcd3, IRangeResponse, Lease } from 'etcd3';
import type { Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { LocalQuotaStore, type Clock, type QuotaStore, type SlotRelease, type TokenRequest } from '../router/quotas.ts';
import { withDeadline } from '../storage/etcd-client.ts';
import { EtcdMirror } from '../storage/etcd-mirror.ts';

export type EtcdQuotaSettings = Pick<Config, 'etcdPrefix' | 'etcdCallTimeoutMs' | 'etcdCatalogMaxRetries' | 'etcdWatchRetryMs' | 'proxyLeaseTtlSeconds' | 'maxTrackedRoles'>;

export interface EtcdQuotaOptions {
  client: Etcd3;
  /** For error messages (08006 names them). */
  endpoints: string[];
  config: EtcdQuotaSettings;
  /** This proxy's id (default: a random UUID). */
  proxyId?: string;
  clock?: Clock;
}

export class EtcdQuotaStore implements QuotaStore {
  readonly proxyId: string;
  readonly #client: Etcd3;
  readonly #endpoints: string[];
  readonly #config: EtcdQuotaSettings;
  readonly #buckets: LocalQuotaStore;
  /** The live proxies' registrations (proxies/, each under its proxy's lease). */
  #proxies: EtcdMirror | null = null;
  #lease: Lease;
  /** Slot deletes not yet done: an acquire waits for them, so a released slot is free for it. */
  #releases = new Set<Promise<void>>();
  #slotSerial = 0;
  #closed = false;

  private constructor(options: EtcdQuotaOptions, lease: Lease) {
    this.proxyId = options.proxyId ?? randomUUID();
    this.#client = options.client;
    this.#endpoints = options.endpoints;
    this.#config = options.config;
    this.#lease = lease;
    this.#buckets = new LocalQuotaStore({ maxTrackedRoles: options.config.maxTrackedRoles, clock: options.clock });
  }

  /** Registers this proxy under a fresh lease and starts counting the live ones; 08006 when etcd does not answer. */
  static async open(options: EtcdQuotaOptions): Promise<EtcdQuotaStore> {
    const lease = options.client.lease(options.config.proxyLeaseTtlSeconds);
    const store = new EtcdQuotaStore(options, lease);
    try {
      await store.#register();
      const conn = { client: options.client, endpoints: options.endpoints, callTimeoutMs: options.config.etcdCallTimeoutMs };
      store.#proxies = await EtcdMirror.open({ conn, prefix: `${options.config.etcdPrefix}proxies/`, callTimeoutMs: conn.callTimeoutMs, retryMs: options.config.etcdWatchRetryMs });
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  /** Live proxies as this one last saw them (at least itself). */
  get liveProxies(): number {
    return Math.max(1, this.#proxies?.size ?? 1);
  }

  take(request: TokenRequest): Promise<boolean> {
    return this.#buckets.take({ ...request, ratePerSecond: request.ratePerSecond / this.liveProxies });
  }

  async acquire(role: string, limit: number): Promise<SlotRelease | null> {
    await Promise.all([...this.#releases]);
    const range = this.#slotRange(role);
    const leaseId = await this.#call(() => this.#lease.grant());
    for (let attempt = 0; attempt <= this.#config.etcdCatalogMaxRetries; attempt++) {
      const counted: IRangeResponse = await this.#call(() => this.#client.kv.range({ key: range.start, range_end: range.end, count_only: true }));
      if (Number(counted.count) >= limit) return null;
      const key = Buffer.concat([range.start, Buffer.from(`${this.proxyId}/${++this.#slotSerial}`)]);
      const revision = BigInt(counted.header.revision);
      const result = await this.#call(() => this.#client.kv.txn({
        compare: [{ key: range.start, range_end: range.end, target: 'Mod', result: 'Less', mod_revision: (revision + 1n).toString() }],
        success: [{ request_put: { key, value: Buffer.from(this.proxyId), lease: leaseId } }],
      }));
      if (result.succeeded) return this.#release(key);
    }
    throw new VectorgateError(SqlState.SerializationFailure, `could not take a concurrency slot of role "${role}": too much contention`, {
      hint: 'Other proxies took slots of this role at the same time; retry the statement.',
    });
  }

  /** Revokes the lease: this proxy's registration and slots go at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#proxies?.close();
    await Promise.all([...this.#releases]);
    await this.#lease.revoke().catch(() => undefined);
  }

  #release(key: Buffer): SlotRelease {
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      // A delete that fails leaves the slot to the lease, which ends with this proxy.
      const done = this.#call(() => this.#client.kv.deleteRange({ key })).then(() => undefined, () => undefined);
      this.#releases.add(done);
      void done.then(() => this.#releases.delete(done));
    };
  }

  async #register(): Promise<void> {
    const key = `${this.#config.etcdPrefix}proxies/${this.proxyId}`;
    const lease = this.#lease;
    await this.#call(() => lease.put(key).value(JSON.stringify({ id: this.proxyId, startedAt: new Date().toISOString() })).exec());
    lease.once('lost', () => this.#reregister());
  }

  /** etcd lost the lease (it was unreachable past the TTL, taking our slots with it): register again under a new one. */
  #reregister(): void {
    if (this.#closed) return;
    void this.#lease.revoke().catch(() => undefined);
    this.#lease = this.#client.lease(this.#config.proxyLeaseTtlSeconds);
    this.#register().catch(() => {
      setTimeout(() => this.#reregister(), this.#config.etcdWatchRetryMs).unref();
    });
  }

  #slotRange(role: string): { start: Buffer; end: Buffer } {
    const start = Buffer.from(`${this.#config.etcdPrefix}quota/${encodeURIComponent(role)}/slot/`);
    return { start, end: prefixEnd(start) };
  }

  #call<T>(call: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the quota store is closed'));
    const conn = { client: this.#client, endpoints: this.#endpoints, callTimeoutMs: this.#config.etcdCallTimeoutMs };
    return withDeadline(conn, conn.callTimeoutMs, 'change the quota store' , () => call());
  }
}

/** The first key after every key starting with `prefix` (etcd's range_end for a prefix). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

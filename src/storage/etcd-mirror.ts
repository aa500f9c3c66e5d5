// An in-memory copy of every key under one etcd prefix, kept current by a watch: how proxies and
// workers see workers/, placement/ and replicas/ without a look-up per query. Open lists the prefix,
// then watches from the list's revision + 1. The watch is ours: on an error, a disconnect or a
// compacted revision it is dropped and the prefix listed again and reconciled (etcd3's own resume
// can skip events: field notes), with a back-off that doubles up to 16 × etcdWatchRetryMs.
// Listeners get every change once, in revision order; a re-list reports what differs.
import type { IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import { withDeadline, type EtcdConnection } from './etcd-client.ts';
import { Resync } from './etcd-resync.ts';

export interface MirrorChange {
  kind: 'put' | 'delete';
  /** The key without the prefix. */
  key: string;
  /** The new value (put) or the last one known (delete). */
  value: Buffer;
}

export interface EtcdMirrorOptions {
  conn: EtcdConnection;
  /** The full prefix, e.g. `/vectorgate/workers/`. */
  prefix: string;
  callTimeoutMs: number;
  retryMs: number;
}

interface Held { value: Buffer; modRevision: bigint }

export class EtcdMirror {
  readonly #options: EtcdMirrorOptions;
  readonly #values = new Map<string, Held>();
  readonly #listeners = new Set<(changes: MirrorChange[]) => void>();
  #revision = 0n;
  #generation = 0;
  #watcher: Watcher | null = null;
  readonly #resync: Resync;
  #closed = false;

  private constructor(options: EtcdMirrorOptions) {
    this.#options = options;
    this.#resync = new Resync(options.retryMs, () => this.#sync());
  }

  /** Lists the prefix and starts watching it; rejects (08006) when etcd does not answer. */
  static async open(options: EtcdMirrorOptions): Promise<EtcdMirror> {
    const mirror = new EtcdMirror(options);
    await mirror.#sync();
    return mirror;
  }

  get(key: string): Buffer | undefined { return this.#values.get(key)?.value; }
  get size(): number { return this.#values.size; }
  /** The etcd revision the copy reflects. */
  get revision(): bigint { return this.#revision; }

  *entries(): IterableIterator<[string, Buffer]> {
    for (const [key, held] of this.#values) yield [key, held.value];
  }

  /** Every batch of changes after it is applied here; returns the unsubscribe function. */
  onChange(listener: (changes: MirrorChange[]) => void): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  /** Lists again now (e.g. after a change this process made and must see before it goes on). */
  refresh(): Promise<void> { return this.#sync(); }

  async close(): Promise<void> {
    this.#closed = true;
    this.#generation++;
    this.#resync.stop();
    this.#listeners.clear();
    await this.#dropWatcher();
  }

  async #sync(): Promise<void> {
    const generation = ++this.#generation;
    await this.#dropWatcher();
    const { conn, prefix, callTimeoutMs } = this.#options;
    const result = await withDeadline(conn, callTimeoutMs, `list ${prefix}`, (options) =>
      conn.client.getAll().prefix(prefix).options(options).exec());
    if (generation !== this.#generation || this.#closed) return;
    this.#reconcile(result.kvs, BigInt(result.header.revision));
    this.#startWatch(generation, this.#revision + 1n);
  }

  #reconcile(kvs: IKeyValue[], revision: bigint): void {
    const listed = new Map(kvs.map((kv) => [this.#keyOf(kv), { value: kv.value, modRevision: BigInt(kv.mod_revision) }]));
    const changes: MirrorChange[] = [];
    for (const [key, old] of this.#values) if (!listed.has(key)) changes.push({ kind: 'delete', key, value: old.value });
    for (const [key, held] of listed) {
      if (this.#values.get(key)?.modRevision !== held.modRevision) changes.push({ kind: 'put', key, value: held.value });
    }
    this.#values.clear();
    for (const [key, held] of listed) this.#values.set(key, held);
    if (revision > this.#revision) this.#revision = revision;
    this.#notify(changes);
  }

  #startWatch(generation: number, fromRevision: bigint): void {
    const { conn, prefix } = this.#options;
    const watcher = conn.client.watch().prefix(prefix).startRevision(fromRevision.toString()).watcher();
    this.#watcher = watcher;
    watcher.on('data', (response: IWatchResponse) => {
      if (generation === this.#generation) this.#apply(response);
    });
    const broken = () => {
      if (generation === this.#generation && !this.#closed) this.#resync.schedule();
    };
    watcher.on('disconnected', broken);
    watcher.on('error', broken);
    watcher.on('connected', () => this.#resync.reset());
  }

  #apply(response: IWatchResponse): void {
    const changes: MirrorChange[] = [];
    // One transaction puts several keys at one revision: compare with the revision before this batch.
    const listedAt = this.#revision;
    for (const event of response.events) {
      const revision = BigInt(event.kv.mod_revision);
      if (revision <= listedAt && event.type === 'Put') continue;
      const key = this.#keyOf(event.kv);
      if (event.type === 'Put') {
        this.#values.set(key, { value: event.kv.value, modRevision: revision });
        changes.push({ kind: 'put', key, value: event.kv.value });
      } else {
        const old = this.#values.get(key);
        this.#values.delete(key);
        if (old !== undefined) changes.push({ kind: 'delete', key, value: old.value });
      }
      if (revision > this.#revision) this.#revision = revision;
    }
    this.#notify(changes);
  }

  #notify(changes: MirrorChange[]): void {
    if (changes.length === 0) return;
    for (const listener of this.#listeners) {
      try { listener(changes); } catch (err) { process.emitWarning(`etcd mirror listener of ${this.#options.prefix} threw: ${String(err)}`); }
    }
  }

  async #dropWatcher(): Promise<void> {
    const watcher = this.#watcher;
    this.#watcher = null;
    await watcher?.cancel().catch(() => undefined);
  }

  #keyOf(kv: IKeyValue): string {
    return kv.key.toString('utf8').slice(this.#options.prefix.length);
  }
}

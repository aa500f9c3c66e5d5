// The catalog in etcd: one key per collection, `<prefix>catalog/<database>/<name>` holding its
// CollectionEntry as JSON (docs/architecture.md, "Cluster catalog"). Every proxy keeps the whole
// catalog in memory: open lists the prefix, then watches it from the list's revision + 1. The watch is
// ours: on an error or a disconnect it is cancelled and the prefix listed again and reconciled, because
// etcd3's own resume can skip events (field notes). A change is a guarded transaction (create: the key
// must not exist; a policy or a drop: the key must be at the revision we read), and resolves once this
// store has applied it from the watch, so a read after it sees it and the watch delivers every change —
// this store's and other proxies' — once, in revision order.
// A transaction whose reply was lost may have applied (etcd3 retries unavailable calls): a failed
// compare is therefore checked against what the key holds before it is reported.
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import type { Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import type { CatalogChange, CatalogStore, CollectionEntry, NewCollection } from './catalog-store.ts';
import { duplicateCollection, missingCollection, newEntry, notify, parseEntry, withPolicy } from './catalog.ts';
import { withDeadline } from './etcd-client.ts';
import { Resync } from './etcd-resync.ts';

export type EtcdCatalogSettings = Pick<Config, 'etcdPrefix' | 'etcdCallTimeoutMs' | 'etcdCatalogMaxRetries' | 'etcdWatchRetryMs'>;

export interface EtcdCatalogOptions {
  client: Etcd3;
  /** For error messages (08006 names them). */
  endpoints: string[];
  config: EtcdCatalogSettings;
}

interface Known { entry: CollectionEntry; modRevision: bigint }


export class EtcdCatalogStore implements CatalogStore {
  readonly #client: Etcd3;
  readonly #endpoints: string[];
  readonly #config: EtcdCatalogSettings;
  readonly #prefix: string;
  /** By `<database>/<name>` (the key without the prefix). */
  readonly #entries = new Map<string, Known>();
  readonly #listeners = new Set<(change: CatalogChange) => void>();
  /** Changes waiting until the watch has applied their revision. */
  #waiters: { revision: bigint; resolve: () => void }[] = [];
  /** The etcd revision the memory reflects. */
  #revision = 0n;
  /** Bumped by each re-list; a watch of an older generation is ignored. */
  #generation = 0;
  #watcher: Watcher | null = null;
  readonly #resync: Resync;
  #closed = false;

  private constructor(options: EtcdCatalogOptions) {
    this.#client = options.client;
    this.#endpoints = options.endpoints;
    this.#config = options.config;
    this.#prefix = `${options.config.etcdPrefix}catalog/`;
    this.#resync = new Resync(options.config.etcdWatchRetryMs, () => this.#sync());
  }

  /** Lists the catalog and starts watching it; 08006 when etcd does not answer. */
  static async open(options: EtcdCatalogOptions): Promise<EtcdCatalogStore> {
    const store = new EtcdCatalogStore(options);
    await store.#sync();
    return store;
  }

  list(): CollectionEntry[] {
    return [...this.#entries.values()].map((k) => k.entry)
      .sort((a, b) => a.database.localeCompare(b.database) || a.name.localeCompare(b.name));
  }

  listIn(database: string): CollectionEntry[] {
    return this.list().filter((e) => e.database === database);
  }

  get(database: string, name: string): CollectionEntry | undefined {
    return this.#entries.get(entryKey(database, name))?.entry;
  }

  prepare(spec: NewCollection, now = new Date()): CollectionEntry {
    if (this.get(spec.database, spec.name) !== undefined) throw duplicateCollection(spec.name);
    return newEntry(spec, now);
  }

  async commit(entry: CollectionEntry): Promise<CollectionEntry> {
    const key = this.#key(entry.database, entry.name);
    const result = await this.#call(() => this.#client.if(key, 'Create', '==', 0)
      .then(this.#client.put(key).value(JSON.stringify(entry))).commit());
    if (result.succeeded) {
      await this.#applied(BigInt(result.header.revision));
      return entry;
    }
    const { current } = await this.#read(key);
    // The same directory name is this very entry: an earlier attempt of this call applied.
    if (current === undefined || current.entry.dir !== entry.dir) throw duplicateCollection(entry.name);
    await this.#applied(current.modRevision);
    return entry;
  }

  async remove(database: string, name: string): Promise<CollectionEntry> {
    const known = this.#entries.get(entryKey(database, name));
    if (known === undefined) throw missingCollection(name);
    const key = this.#key(database, name);
    let current: Known | undefined = known;
    for (let attempt = 0; attempt <= this.#config.etcdCatalogMaxRetries; attempt++) {
      const result = await this.#call(() => this.#client.if(key, 'Mod', '==', current!.modRevision.toString())
        .then(this.#client.delete().key(key)).commit());
      if (result.succeeded) {
        await this.#applied(BigInt(result.header.revision));
        return known.entry;
      }
      current = (await this.#read(key)).current;
      // This incarnation is gone (an earlier attempt of this call, or another proxy, removed it);
      // listing again brings memory up to the removal, whose revision this store does not know.
      if (current === undefined || current.entry.dir !== known.entry.dir) {
        await this.#sync().catch(() => this.#scheduleSync());
        return known.entry;
      }
    }
    throw contention(name);
  }

  async setPolicy(database: string, name: string, policy: string, value: string | null): Promise<CollectionEntry> {
    let current = this.#entries.get(entryKey(database, name));
    const key = this.#key(database, name);
    for (let attempt = 0; attempt <= this.#config.etcdCatalogMaxRetries; attempt++) {
      if (current === undefined) throw missingCollection(name);
      const updated = withPolicy(current.entry, policy, value);
      const modRevision = current.modRevision.toString();
      const result = await this.#call(() => this.#client.if(key, 'Mod', '==', modRevision)
        .then(this.#client.put(key).value(JSON.stringify(updated))).commit());
      if (result.succeeded) {
        await this.#applied(BigInt(result.header.revision));
        return updated;
      }
      current = (await this.#read(key)).current;
      if (current !== undefined && (current.entry.policies[policy] ?? null) === value) {
        await this.#applied(current.modRevision);
        return current.entry;
      }
    }
    throw contention(name);
  }

  watch(listener: (change: CatalogChange) => void): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#generation++;
    this.#resync.stop();
    this.#listeners.clear();
    for (const waiter of this.#waiters) waiter.resolve();
    this.#waiters = [];
    await this.#dropWatcher();
  }

  /** The revision the memory reflects (tests). */
  get revision(): bigint { return this.#revision; }

  #key(database: string, name: string): string {
    return this.#prefix + entryKey(database, name);
  }

  #call<T>(call: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the catalog is closed'));
    const conn = { client: this.#client, endpoints: this.#endpoints, callTimeoutMs: this.#config.etcdCallTimeoutMs };
    return withDeadline(conn, conn.callTimeoutMs, 'change the catalog' , () => call());
  }

  /** The key as etcd holds it now. */
  async #read(key: string): Promise<{ current: Known | undefined }> {
    const result = await this.#call(() => this.#client.get(key).exec());
    const kv = result.kvs[0];
    return { current: kv === undefined ? undefined : known(kv) };
  }

  /** Lists the prefix, reconciles memory with it, and watches from the next revision. */
  async #sync(): Promise<void> {
    const generation = ++this.#generation;
    await this.#dropWatcher();
    const result = await this.#call(() => this.#client.getAll().prefix(this.#prefix).exec());
    if (generation !== this.#generation || this.#closed) return;
    const revision = BigInt(result.header.revision);
    this.#reconcile(result.kvs.map(known), revision);
    this.#startWatch(generation, revision + 1n);
  }

  #reconcile(listed: Known[], revision: bigint): void {
    const byKey = new Map(listed.map((k) => [entryKey(k.entry.database, k.entry.name), k]));
    const changes: CatalogChange[] = [];
    for (const [key, old] of this.#entries) {
      if (!byKey.has(key)) changes.push({ kind: 'delete', entry: old.entry });
    }
    const puts = listed.filter((k) => this.#entries.get(entryKey(k.entry.database, k.entry.name))?.modRevision !== k.modRevision)
      .sort((a, b) => (a.modRevision < b.modRevision ? -1 : 1));
    for (const k of puts) changes.push({ kind: 'put', entry: k.entry });
    this.#entries.clear();
    for (const [key, k] of byKey) this.#entries.set(key, k);
    for (const change of changes) notify(this.#listeners, change);
    this.#advance(revision);
  }

  #startWatch(generation: number, fromRevision: bigint): void {
    const watcher = this.#client.watch().prefix(this.#prefix).startRevision(fromRevision.toString()).watcher();
    this.#watcher = watcher;
    watcher.on('data', (response: IWatchResponse) => {
      if (generation !== this.#generation) return;
      // An entry that is no JSON entry (XX001) must not throw out of etcd3's emitter, which would end
      // the process: memory stays as it was and the store keeps listing until the key is readable.
      try { this.#applyEvents(response); } catch { this.#scheduleSync(); }
    });
    const broken = () => {
      if (generation === this.#generation && !this.#closed) this.#scheduleSync();
    };
    watcher.on('disconnected', broken);
    watcher.on('error', broken);
    watcher.on('connected', () => this.#resync.reset());
  }

  #applyEvents(response: IWatchResponse): void {
    for (const event of response.events) {
      const revision = BigInt(event.kv.mod_revision);
      if (revision <= this.#revision) continue;
      const key = event.kv.key.toString('utf8').slice(this.#prefix.length);
      if (event.type === 'Put') {
        const k = known(event.kv);
        this.#entries.set(key, k);
        notify(this.#listeners, { kind: 'put', entry: k.entry });
      } else {
        const old = this.#entries.get(key);
        this.#entries.delete(key);
        if (old !== undefined) notify(this.#listeners, { kind: 'delete', entry: old.entry });
      }
      this.#advance(revision);
    }
  }

  #advance(revision: bigint): void {
    if (revision > this.#revision) this.#revision = revision;
    const due = this.#waiters.filter((w) => w.revision <= this.#revision);
    this.#waiters = this.#waiters.filter((w) => w.revision > this.#revision);
    for (const waiter of due) waiter.resolve();
  }

  /**
   * Resolves once memory reflects `revision` (the change is durable already). A watch that does not
   * deliver it within a call's deadline is replaced by a fresh list, which does.
   */
  async #applied(revision: bigint): Promise<void> {
    if (await this.#waitFor(revision, this.#config.etcdCallTimeoutMs)) return;
    await this.#sync().catch(() => this.#scheduleSync());
  }

  #waitFor(revision: bigint, timeoutMs: number): Promise<boolean> {
    if (revision <= this.#revision || this.#closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { revision, resolve: () => { clearTimeout(timer); resolve(true); } };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Re-lists after a back-off that doubles while etcd stays away. */
  #scheduleSync(): void {
    this.#generation++;
    void this.#dropWatcher();
    if (!this.#closed) this.#resync.schedule();
  }

  async #dropWatcher(): Promise<void> {
    const watcher = this.#watcher;
    this.#watcher = null;
    if (watcher !== null) await watcher.cancel().catch(() => undefined);
  }
}

/** Database names may hold `/`, collection names cannot, so the last `/` separates them. */
function entryKey(database: string, name: string): string {
  return `${database}/${name}`;
}

function known(kv: IKeyValue): Known {
  return { entry: parseEntry(kv.value.toString('utf8'), kv.key.toString('utf8')), modRevision: BigInt(kv.mod_revision) };
}

function contention(name: string): VectorgateError {
  return new VectorgateError(SqlState.SerializationFailure, `could not change collection "${name}": too much contention on the catalog`, {
    hint: 'Other proxies changed it at the same time; retry the statement.',
  });
}

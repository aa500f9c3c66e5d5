// The collections' machinery, addressed by catalog entry (never by name, so that only a view that
// resolved the name in its database reaches a collection), over three seams: the catalog
// (CatalogStore), the shard replicas (ShardTransport) and how writes become durable (WritePath).
// The same code serves the embedded default (embedded-seams.ts) and the cluster. Writes are
// acknowledged once every shard's part is durable; the returned positions (shard → sequence number)
// are what session consistency waits on. One call's writes are all-or-nothing (see the WritePath).
import { join } from 'node:path';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { SearchOptions, ShardHit, StoredRow } from '../engine/shard.ts';
import type { IndexSpec } from '../engine/vector-index.ts';
import { SqlState, toVectorgateError, VectorgateError } from '../errors.ts';
import { removeIfExists } from '../storage/fsync.ts';
import { COLLECTIONS_DIR } from '../storage/catalog.ts';
import type { CatalogStore, CollectionEntry, NewCollection } from '../storage/catalog-store.ts';
import { CollectionRecoveries, type RecoveryState } from './collection-recovery.ts';
import type { ShardTransport } from './shard-transport.ts';
import type { ExplainedSearch, ReplicaStats } from './shard-replica.ts';
import type { ReadBound } from './worker-protocol.ts';
import { shardKey, type WritePart, type WritePath } from './write-path.ts';

/** What shard i's replica must have applied before it answers a read (undefined: nothing). */
export type ShardReadBounds = (shard: number) => ReadBound | undefined;
const NO_BOUND: ShardReadBounds = () => undefined;

export type { WritePart } from './write-path.ts';

/** The seams a CollectionStore works through. */
export interface CollectionSeams { catalog: CatalogStore; transport: ShardTransport; writes: WritePath }

/**
 * How open treats the catalog's collections: background — returns once the catalog is open, each
 * collection recovering meanwhile (see CollectionRecoveries); otherwise it returns once all are open.
 * log: where a background recovery's end is reported.
 */
export interface OpenOptions { background?: boolean; log?: Logger }

/** What a collection holds, for quotas: rows, and bytes of vectors (dims × 4 each) and payloads. */
export interface CollectionUsage { vectors: number; bytes: number }

export class CollectionStore {
  readonly config: Config;
  readonly #dataDir: string;
  readonly #catalog: CatalogStore;
  readonly #transport: ShardTransport;
  readonly #writes: WritePath;
  readonly #recoveries: CollectionRecoveries;
  #closing = false;
  /** The recoveries the start began, with their reporting (close waits for them once the transport is closed). */
  readonly #recovering = new Set<Promise<unknown>>();
  /** Per collection directory: see writeGeneration (entries leave with the collection, see drop). */
  readonly #generations = new Map<string, number>();

  private constructor(dataDir: string, config: Config, seams: CollectionSeams) {
    this.config = config;
    this.#dataDir = dataDir;
    this.#catalog = seams.catalog;
    this.#transport = seams.transport;
    this.#writes = seams.writes;
    this.#recoveries = new CollectionRecoveries(config);
  }

  /**
   * Opens every collection of the catalog (snapshot + log replay of each shard), in the background
   * or not (OpenOptions); when not, a failure closes the seams and is thrown.
   */
  static async open(dataDir: string, config: Config, seams: CollectionSeams, options: OpenOptions = {}): Promise<CollectionStore> {
    const store = new CollectionStore(dataDir, config, seams);
    const outcomes = seams.catalog.list().map((entry) => {
      const outcome = store.#recover(entry, options.log);
      store.#recovering.add(outcome);
      return outcome;
    });
    if (options.background === true) return store;
    const failed = (await Promise.all(outcomes)).find((failure) => failure !== null);
    if (failed !== undefined) {
      await store.#closeSeams();
      throw failed;
    }
    return store;
  }

  /** Resolves once every collection the start found has recovered or failed to. */
  recovered(): Promise<void> { return this.#recoveries.settled(); }

  /** Whether a collection the start found is open yet (a created one always is). */
  recoveryOf(entry: CollectionEntry): RecoveryState { return this.#recoveries.state(entry); }

  /** Every collection of every database. */
  all(): CollectionEntry[] { return this.#catalog.list(); }

  /**
   * Replicas of a shard this deployment runs at most: the embedded default one (its shards live in
   * this process), a cluster as many as a collection asks for (null).
   */
  get maxServedReplicas(): number | null { return this.#transport.hostsReplicas ? 1 : null; }

  /** See WritePath.maxWriteBytes. */
  get maxWriteBytes(): number | null { return this.#writes.maxWriteBytes; }
  /** The collections of one database, by name. */
  of(database: string): CollectionEntry[] { return this.#catalog.listIn(database); }
  find(database: string, name: string): CollectionEntry | undefined { return this.#catalog.get(database, name); }

  /** Files first, catalog entry last (see below); maxCollections counts every database's. */
  async create(spec: NewCollection): Promise<CollectionEntry> {
    if (this.#catalog.list().length >= this.config.maxCollections) {
      throw new VectorgateError(SqlState.ProgramLimitExceeded, `there are already ${this.config.maxCollections} collections`);
    }
    // A failure (53100 on a full disk) removes what was made, and a crash in between leaves only a
    // directory that Catalog.open removes.
    const entry = this.#catalog.prepare(spec);
    try {
      await this.#openCollection(entry);
      await this.#catalog.commit(entry);
    } catch (err) {
      await Promise.allSettled(range(entry.shards).map((i) => this.#transport.closeShard(shardKey(entry, i))));
      await this.#writes.closeCollection(entry).catch(() => undefined);
      await removeIfExists(this.#collectionDir(entry));
      throw toVectorgateError(err);
    }
    return entry;
  }

  /**
   * Resolves once entry may be dropped: at once when open or when its recovery failed; a recovering
   * one once it has recovered (bounded: 57P03).
   */
  async droppable(entry: CollectionEntry): Promise<void> {
    await this.#recoveries.ready(entry)?.catch((err: unknown) => {
      if (this.#recoveries.state(entry) !== 'failed') throw err;
    });
  }

  async drop(entry: CollectionEntry): Promise<void> {
    await this.droppable(entry);
    this.#recoveries.forget(entry);
    await this.#catalog.remove(entry.database, entry.name);
    this.#generations.delete(entry.dir);
    // The write path first: a decision-log trim still running asks the shards.
    await this.#writes.closeCollection(entry);
    await Promise.all(range(entry.shards).map((i) => this.#transport.closeShard(shardKey(entry, i))));
    await removeIfExists(this.#collectionDir(entry));
  }

  async setPolicy(entry: CollectionEntry, policy: string, value: string | null): Promise<void> {
    await this.#catalog.setPolicy(entry.database, entry.name, policy, value);
  }

  stats(entry: CollectionEntry): Promise<ReplicaStats[]> {
    return this.#whenReady(entry, () => Promise.all(range(entry.shards).map((i) => this.#transport.call({ type: 'stats', shard: shardKey(entry, i) }))));
  }

  /** One stats call per shard: each keeps running totals, nothing is scanned. */
  async usage(entry: CollectionEntry): Promise<CollectionUsage> {
    const stats = await this.stats(entry);
    const vectors = stats.reduce((n, s) => n + s.count, 0);
    const payloadBytes = stats.reduce((n, s) => n + s.payloadBytes, 0);
    return { vectors, bytes: vectors * entry.dims * 4 + payloadBytes };
  }

  get(entry: CollectionEntry, shard: number, id: string, read?: ReadBound): Promise<StoredRow | null> {
    return this.#whenReady(entry, () => this.#transport.call({ type: 'get', shard: shardKey(entry, shard), id, read }));
  }

  /** Every shard's top k; read(i): what shard i's replica must have applied (consistency). */
  search(entry: CollectionEntry, query: Float32Array, k: number, options: SearchOptions, read: ShardReadBounds = NO_BOUND): Promise<ShardHit[][]> {
    return this.#whenReady(entry, () => Promise.all(range(entry.shards).map((i) => this.#transport.call({ type: 'search', shard: shardKey(entry, i), query, k, options, read: read(i) }))));
  }

  /** Every shard's top k, with how it was answered and how long it took. */
  explain(entry: CollectionEntry, query: Float32Array, k: number, options: SearchOptions, read: ShardReadBounds = NO_BOUND): Promise<ExplainedSearch[]> {
    return this.#whenReady(entry, () => Promise.all(range(entry.shards).map((i) => this.#transport.call({ type: 'explain', shard: shardKey(entry, i), query, k, options, read: read(i) }))));
  }

  /** Every shard's committed log position as of now: what a linearizable read waits for a replica to have applied. */
  committedPositions(entry: CollectionEntry): Promise<ReadonlyMap<number, number>> {
    return this.#whenReady(entry, () => this.#writes.committedPositions(entry));
  }

  async snapshot(entry: CollectionEntry): Promise<void> {
    await this.#recoveries.ready(entry);
    await Promise.all(range(entry.shards).map((i) => this.#transport.call({ type: 'snapshot', shard: shardKey(entry, i) })));
  }

  /**
   * One call's writes, all or nothing (the write path's commit protocol). The collection's write
   * generation moves when the write starts and again when it ends, however it ends: a search that
   * overlapped it is cached under a generation nobody looks up afterwards (search-pipeline.ts).
   */
  async write(entry: CollectionEntry, parts: Map<number, WritePart>): Promise<Record<number, number>> {
    this.#bumpGeneration(entry);
    try {
      return await this.#whenReady(entry, () => this.#writes.write(entry, parts));
    } finally {
      this.#bumpGeneration(entry);
    }
  }

  /** How many times writes to the collection started or ended in this process (see write). */
  writeGeneration(entry: CollectionEntry): number {
    return this.#generations.get(entry.dir) ?? 0;
  }

  /** The collection now at this directory (directories are unique per creation). */
  entryAt(dir: string): CollectionEntry | undefined {
    return this.#catalog.list().find((entry) => entry.dir === dir);
  }

  /** Writes go through other processes too (a cluster's proxies), so this one does not see them all. */
  get writesElsewhere(): boolean { return !this.#transport.hostsReplicas; }

  #bumpGeneration(entry: CollectionEntry): void {
    this.#generations.set(entry.dir, this.writeGeneration(entry) + 1);
  }

  /**
   * A clean shutdown snapshots every collection it can, so the next start replays nothing; one whose
   * snapshot cannot be written (a full disk) keeps its log, which the next start replays. Replicas on
   * worker processes are theirs to snapshot. A collection still recovering is not waited for: its log
   * holds everything, and closing the transport ends its replay.
   */
  async close(): Promise<void> {
    this.#closing = true;
    const failed: { name: string; err: unknown }[] = [];
    try {
      for (const entry of this.#transport.hostsReplicas ? this.#catalog.list() : []) {
        if (this.#recoveries.state(entry) !== 'ready') continue;
        try {
          await this.snapshot(entry);
        } catch (err) {
          failed.push({ name: entry.name, err });
        }
      }
    } finally {
      await this.#closeSeams();
      await Promise.all(this.#recovering);
    }
    if (failed.length === 0) return;
    const cause = toVectorgateError(failed[0]!.err);
    throw new VectorgateError(cause.code,
      `no snapshot of ${failed.map((f) => `"${f.name}"`).join(', ')} at shutdown: ${cause.message}; ` +
      'the write-ahead log keeps every acknowledged write and the next start replays it', { cause: failed[0]!.err });
  }

  /** The write path first (its trims ask the shards), then the replicas, then the catalog. */
  async #closeSeams(): Promise<void> {
    await this.#writes.close().catch(() => undefined);
    await this.#transport.close();
    await this.#catalog.close();
  }

  #collectionDir(entry: CollectionEntry): string {
    return join(this.#dataDir, COLLECTIONS_DIR, entry.dir);
  }

  /** run() at once when entry is open (no extra await on the hot path), else once it is (bounded). */
  #whenReady<T>(entry: CollectionEntry, run: () => Promise<T>): Promise<T> {
    const ready = this.#recoveries.ready(entry);
    return ready === null ? run() : ready.then(run);
  }

  /** Opens a collection the start found; resolves with the error if that failed (null otherwise). */
  async #recover(entry: CollectionEntry, log: Logger | undefined): Promise<unknown> {
    const started = performance.now();
    const failure = await this.#recoveries.track(entry, (onShardOpen) => this.#openCollection(entry, onShardOpen));
    const where = { collection: entry.name, database: entry.database, shards: entry.shards, ms: Math.round(performance.now() - started) };
    if (failure === null) {
      log?.info(where, 'collection recovered');
    } else if (this.#closing) {
      // A shutdown ended the replay: the next start replays the log again. A decision log opened
      // after the write path closed is closed here.
      await this.#writes.closeCollection(entry).catch(() => undefined);
      log?.info(where, 'collection recovery stopped by the shutdown');
    } else {
      log?.error({ ...where, err: toVectorgateError(failure).message }, 'collection recovery failed; its statements get the error until it is dropped or vectorgate restarts');
    }
    return failure;
  }

  /** The write path first: each shard's recovery needs what it returns (the committed txids). */
  async #openCollection(entry: CollectionEntry, onShardOpen: () => void = () => undefined): Promise<void> {
    const spec: IndexSpec = { dims: entry.dims, metric: entry.metric, quantization: entry.quantization, m: entry.m, efConstruction: entry.efConstruction, engine: entry.engine };
    const dir = this.#collectionDir(entry);
    const committed = await this.#writes.openCollection(entry, dir);
    // Every open settles before a failure is reported, so that the caller's cleanup closes them all.
    const opened = await Promise.allSettled(range(entry.shards).map(async (i) => {
      await this.#transport.open(shardKey(entry, i), join(dir, `shard-${i}`), spec, committed);
      onShardOpen();
    }));
    const failed = opened.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

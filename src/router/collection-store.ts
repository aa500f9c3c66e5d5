// The collections' machinery, addressed by catalog entry (never by name, so that only a view that
// resolved the name in its database reaches a collection): the catalog, the shard workers, and each
// collection's decision log. Writes are acknowledged only when every shard's log append is fsync'd;
// the returned positions (shard → sequence number) are what session consistency waits on. One call's
// writes are all-or-nothing: a batch for one shard is one log record; a batch over several shards
// commits with two-phase commit through the collection's decision log (storage/decision-log.ts).
import { join } from 'node:path';
import type { Transferable } from 'node:worker_threads';
import type { Config } from '../config.ts';
import type { SearchOptions, ShardHit, StoredRow } from '../engine/shard.ts';
import type { IndexSpec } from '../engine/vector-index.ts';
import { SqlState, toVectorgateError, VectorgateError } from '../errors.ts';
import { removeIfExists } from '../storage/fsync.ts';
import { Catalog, type CollectionEntry, type NewCollection } from '../storage/catalog.ts';
import { DecisionLog } from '../storage/decision-log.ts';
import { ShardHost } from './shard-host.ts';
import type { ExplainedSearch, ReplicaStats } from './shard-replica.ts';
import type { ReadBound, UpsertRows } from './worker-protocol.ts';

/** What shard i's replica must have applied before it answers a read (undefined: nothing). */
export type ShardReadBounds = (shard: number) => ReadBound | undefined;
const NO_BOUND: ShardReadBounds = () => undefined;

/** One shard's part of a write. */
export interface WritePart { upsert?: UpsertRows; delete?: string[] }

/** What a collection holds, for quotas: rows, and bytes of vectors (dims × 4 each) and payloads. */
export interface CollectionUsage { vectors: number; bytes: number }

export class CollectionStore {
  readonly config: Config;
  readonly #catalog: Catalog;
  readonly #host: ShardHost;
  /** Each open collection's decision log, by its directory name. */
  readonly #decisions = new Map<string, DecisionLog>();
  /** Decision-log trims running, by collection directory (close waits for them). */
  readonly #trimming = new Map<string, Promise<void>>();

  private constructor(config: Config, catalog: Catalog, host: ShardHost) {
    this.config = config;
    this.#catalog = catalog;
    this.#host = host;
  }

  /** Opens the catalog in dataDir (migrating a version-1 one) and every collection's shards (snapshot + log replay each). */
  static async open(dataDir: string, config: Config): Promise<CollectionStore> {
    const catalog = await Catalog.open(dataDir, { database: config.catalogMigrationDatabase, owner: config.catalogMigrationOwner });
    const host = new ShardHost(config);
    const store = new CollectionStore(config, catalog, host);
    try {
      await Promise.all(catalog.list().map((entry) => store.#openCollection(entry)));
    } catch (err) {
      await host.close();
      await store.#closeDecisionLogs();
      throw err;
    }
    return store;
  }

  /** Every collection of every database. */
  all(): CollectionEntry[] { return this.#catalog.list(); }
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
      await Promise.allSettled(range(entry.shards).map((i) => this.#host.closeShard(shardKey(entry, i))));
      await this.#decisions.get(entry.dir)?.close().catch(() => undefined);
      this.#decisions.delete(entry.dir);
      await removeIfExists(this.#catalog.collectionDir(entry));
      throw toVectorgateError(err);
    }
    return entry;
  }

  async drop(entry: CollectionEntry): Promise<void> {
    await this.#catalog.remove(entry.database, entry.name);
    await this.#trimming.get(entry.dir);
    await Promise.all(range(entry.shards).map((i) => this.#host.closeShard(shardKey(entry, i))));
    await this.#decisions.get(entry.dir)?.close();
    this.#decisions.delete(entry.dir);
    await removeIfExists(this.#catalog.collectionDir(entry));
  }

  async setPolicy(entry: CollectionEntry, policy: string, value: string | null): Promise<void> {
    await this.#catalog.setPolicy(entry.database, entry.name, policy, value);
  }

  stats(entry: CollectionEntry): Promise<ReplicaStats[]> {
    return Promise.all(range(entry.shards).map((i) => this.#host.call({ type: 'stats', shard: shardKey(entry, i) })));
  }

  /** One stats call per shard: each keeps running totals, nothing is scanned. */
  async usage(entry: CollectionEntry): Promise<CollectionUsage> {
    const stats = await this.stats(entry);
    const vectors = stats.reduce((n, s) => n + s.count, 0);
    const payloadBytes = stats.reduce((n, s) => n + s.payloadBytes, 0);
    return { vectors, bytes: vectors * entry.dims * 4 + payloadBytes };
  }

  get(entry: CollectionEntry, shard: number, id: string, read?: ReadBound): Promise<StoredRow | null> {
    return this.#host.call({ type: 'get', shard: shardKey(entry, shard), id, read });
  }

  /** Every shard's top k; read(i): what shard i's replica must have applied (consistency). */
  search(entry: CollectionEntry, query: Float32Array, k: number, options: SearchOptions, read: ShardReadBounds = NO_BOUND): Promise<ShardHit[][]> {
    return Promise.all(range(entry.shards).map((i) => this.#host.call({ type: 'search', shard: shardKey(entry, i), query, k, options, read: read(i) })));
  }

  /** Every shard's top k, with how it was answered and how long it took. */
  explain(entry: CollectionEntry, query: Float32Array, k: number, options: SearchOptions, read: ShardReadBounds = NO_BOUND): Promise<ExplainedSearch[]> {
    return Promise.all(range(entry.shards).map((i) => this.#host.call({ type: 'explain', shard: shardKey(entry, i), query, k, options, read: read(i) })));
  }

  /**
   * Every shard's committed log position as of now: a linearizable read waits for a replica that has
   * applied it. Embedded, a shard's one replica is its log's only writer and applies each record
   * before the append is acknowledged, so it has applied everything committed: nothing to wait for.
   */
  async committedPositions(_entry: CollectionEntry): Promise<ReadonlyMap<number, number>> {
    return new Map();
  }

  async snapshot(entry: CollectionEntry): Promise<void> {
    await Promise.all(range(entry.shards).map((i) => this.#host.call({ type: 'snapshot', shard: shardKey(entry, i) })));
  }

  /** One call's writes: one shard's part is one record (its own commit point); several commit together. */
  async write(entry: CollectionEntry, parts: Map<number, WritePart>): Promise<Record<number, number>> {
    const positions: Record<number, number> = {};
    const transfer = (part: WritePart): Transferable[] => (part.upsert === undefined ? [] : [part.upsert.vectors.buffer as ArrayBuffer]);
    if (parts.size <= 1) {
      for (const [shard, part] of parts) positions[shard] = await this.#host.call({ type: 'write', shard: shardKey(entry, shard), ...part }, transfer(part));
      return positions;
    }
    const log = this.#decisionLog(entry);
    const txid = await log.nextTxid();
    const shards = [...parts.keys()];
    const prepared = await Promise.allSettled([...parts].map(([shard, part]) =>
      this.#host.call({ type: 'prepare', shard: shardKey(entry, shard), txid, ...part }, transfer(part))));
    const refused = prepared.find((r) => r.status === 'rejected');
    try {
      if (refused !== undefined) throw refused.reason;
      await log.commit(txid);
    } catch (err) {
      // No commit record: the batch did not happen. The shards drop their prepared parts now, and
      // recovery would skip them. (A commit whose fsync failed may still be on disk: in doubt, like a
      // COMMIT whose connection broke; all shards then apply it after a restart.)
      await Promise.allSettled(shards.map((shard) => this.#host.call({ type: 'decide', shard: shardKey(entry, shard), txid, commit: false })));
      throw err;
    }
    await Promise.all(shards.map(async (shard) => {
      positions[shard] = (await this.#host.call({ type: 'decide', shard: shardKey(entry, shard), txid, commit: true }))!;
    }));
    if (log.trimDue && !this.#trimming.has(entry.dir)) {
      this.#trimming.set(entry.dir, this.#trimDecisions(entry, log).finally(() => this.#trimming.delete(entry.dir)));
    }
    return positions;
  }

  /**
   * Drops commits no shard can need any more: older than the oldest prepared record any shard's log
   * still holds (shard logs shrink as snapshots are taken).
   */
  async #trimDecisions(entry: CollectionEntry, log: DecisionLog): Promise<void> {
    try {
      const beforeSeq = log.lastSeq + 1;
      const oldest = await Promise.all(range(entry.shards).map((i) => this.#host.call({ type: 'retained', shard: shardKey(entry, i) })));
      const needed = oldest.filter((t): t is number => t !== null);
      await log.trim(needed.length === 0 ? null : Math.min(...needed), beforeSeq);
    } catch (err) {
      process.emitWarning(`trimming the decision log of ${entry.name} failed: ${String(err)}`);
    }
  }

  #decisionLog(entry: CollectionEntry): DecisionLog {
    const log = this.#decisions.get(entry.dir);
    if (log === undefined) throw new VectorgateError(SqlState.InternalError, `collection "${entry.name}" has no open decision log`);
    return log;
  }

  /**
   * A clean shutdown snapshots every collection it can, so the next start replays nothing; one whose
   * snapshot cannot be written (a full disk) keeps its log, which the next start replays.
   */
  async close(): Promise<void> {
    const failed: { name: string; err: unknown }[] = [];
    try {
      for (const entry of this.#catalog.list()) {
        try {
          await this.snapshot(entry);
        } catch (err) {
          failed.push({ name: entry.name, err });
        }
      }
    } finally {
      await Promise.allSettled([...this.#trimming.values()]);
      await this.#host.close();
      await this.#closeDecisionLogs();
    }
    if (failed.length === 0) return;
    const cause = toVectorgateError(failed[0]!.err);
    throw new VectorgateError(cause.code,
      `no snapshot of ${failed.map((f) => `"${f.name}"`).join(', ')} at shutdown: ${cause.message}; ` +
      'the write-ahead log keeps every acknowledged write and the next start replays it', { cause: failed[0]!.err });
  }

  async #closeDecisionLogs(): Promise<void> {
    await Promise.allSettled([...this.#decisions.values()].map((log) => log.close()));
    this.#decisions.clear();
  }

  /** The decision log first: each shard's recovery needs the committed txids. */
  async #openCollection(entry: CollectionEntry): Promise<void> {
    const spec: IndexSpec = { dims: entry.dims, metric: entry.metric, quantization: entry.quantization, m: entry.m, efConstruction: entry.efConstruction, engine: entry.engine };
    const dir = this.#catalog.collectionDir(entry);
    const log = await DecisionLog.open(dir, this.config);
    this.#decisions.set(entry.dir, log);
    const committed = log.committedTxids();
    // Every open settles before a failure is reported, so that the caller's cleanup closes them all.
    const opened = await Promise.allSettled(range(entry.shards).map((i) => this.#host.open(shardKey(entry, i), join(dir, `shard-${i}`), spec, committed)));
    const failed = opened.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }
}

function shardKey(entry: CollectionEntry, shard: number): string {
  return `${entry.dir}/${shard}`;
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

// The API the proxy calls for vector collections: catalog, routing, durable writes and searches over
// the shard workers. Writes are acknowledged only when every shard's log append is fsync'd; the
// returned positions (shard → sequence number) are what session consistency waits on. One call's
// writes are all-or-nothing: a batch for one shard is one log record; a batch over several shards
// commits with two-phase commit through the collection's decision log (storage/decision-log.ts).
import { join } from 'node:path';
import type { Transferable } from 'node:worker_threads';
import { makeConfig, type Config } from '../config.ts';
import type { StoredRow } from '../engine/shard.ts';
import type { IndexSpec } from '../engine/vector-index.ts';
import { SqlState, toVectorgateError, VectorgateError } from '../errors.ts';
import { removeIfExists } from '../storage/fsync.ts';
import { Catalog, type CollectionEntry, type CollectionSpec } from '../storage/catalog.ts';
import { DecisionLog } from '../storage/decision-log.ts';
import { checkPolicy, resolvePolicy } from './policies.ts';
import { mergeTopK, shardOf } from './router.ts';
import { ShardHost } from './shard-host.ts';
import type { ExplainedSearch } from './shard-replica.ts';
import type { UpsertRows } from './worker-protocol.ts';
import { checkBatchSize, checkCollectionName, checkCreateSpec, checkRows, checkSearch, toVector, type CreateSpec, type Row } from './validate.ts';
import { checkId } from '../engine/shard.ts';
import { DatabaseCollections, type CollectionUsage } from './database-collections.ts';

export type { CreateSpec, Row } from './validate.ts';

export interface CollectionInfo extends CollectionSpec { createdAt: string; policies: Record<string, string>; vectors: number }
export interface SearchRow { id: string; distance: number; payload: string | null }
export interface WriteAck { rows: number; positions: Record<number, number> }
/** One shard's part of a write. */
interface WritePart { upsert?: UpsertRows; delete?: string[] }

export interface SearchParams { ef?: number; filter?: unknown }
export interface SearchExplanation {
  rows: SearchRow[];
  ef: number;
  k: number;
  metric: string;
  shards: ExplainedSearch[];
  fanOutMs: number;
  mergeMs: number;
}

export class Collections {
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

  /** Opens the catalog in dataDir and every collection's shards (snapshot + log replay each). */
  static async open(dataDir: string, config: Config = makeConfig({ dataDir })): Promise<Collections> {
    const catalog = await Catalog.open(dataDir);
    const host = new ShardHost(config);
    const collections = new Collections(config, catalog, host);
    try {
      await Promise.all(catalog.list().map((entry) => collections.#openCollection(entry)));
    } catch (err) {
      await host.close();
      await collections.#closeDecisionLogs();
      throw err;
    }
    return collections;
  }

  /** The collections of one database (the only way local plans reach them). */
  in(database: string): DatabaseCollections {
    return new DatabaseCollections(this, database);
  }

  /** What the collections a role owns hold, over every database (roles are cluster-wide): for quotas. */
  async usageOfOwner(owner: string): Promise<{ collections: number; vectors: number; bytes: number }> {
    const owned = this.#catalog.list().filter((entry) => entry.owner === owner);
    const usages = await Promise.all(owned.map((entry) => this.#usage(entry)));
    return {
      collections: owned.length,
      vectors: usages.reduce((n, u) => n + u.vectors, 0),
      bytes: usages.reduce((n, u) => n + u.bytes, 0),
    };
  }

  /** Rows and bytes (vectors × dims × 4 + payload JSON text) the collection holds now. */
  async usage(name: string): Promise<CollectionUsage> {
    return this.#usage(this.#entry(name));
  }

  /** One stats call per shard: each keeps running totals, nothing is scanned. */
  async #usage(entry: CollectionEntry): Promise<CollectionUsage> {
    const stats = await Promise.all(range(entry.shards).map((i) => this.#host.call({ type: 'stats', shard: shardKey(entry, i) })));
    const vectors = stats.reduce((n, s) => n + s.count, 0);
    const payloadBytes = stats.reduce((n, s) => n + s.payloadBytes, 0);
    return { vectors, bytes: vectors * entry.dims * 4 + payloadBytes };
  }

  async createCollection(spec: CreateSpec & { owner?: string }): Promise<CollectionInfo> {
    const checked = { ...checkCreateSpec(spec, this.config), owner: spec.owner ?? '' };
    if (this.#catalog.list().length >= this.config.maxCollections) {
      throw new VectorgateError(SqlState.ProgramLimitExceeded, `there are already ${this.config.maxCollections} collections`);
    }
    // Files first, catalog entry last: a failure (53100 on a full disk) removes what was made, and a
    // crash in between leaves only a directory that Catalog.open removes.
    const entry = this.#catalog.prepare(checked);
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
    return { ...entry, vectors: 0 };
  }

  async dropCollection(name: string): Promise<void> {
    const entry = await this.#catalog.remove(this.#entry(name).name);
    await this.#trimming.get(entry.dir);
    await Promise.all(range(entry.shards).map((i) => this.#host.closeShard(shardKey(entry, i))));
    await this.#decisions.get(entry.dir)?.close();
    this.#decisions.delete(entry.dir);
    await removeIfExists(this.#catalog.collectionDir(entry));
  }

  async listCollections(): Promise<CollectionInfo[]> {
    return Promise.all(this.#catalog.list().map(async (entry) => {
      const stats = await Promise.all(range(entry.shards).map((i) => this.#host.call({ type: 'stats', shard: shardKey(entry, i) })));
      return { ...publicSpec(entry), createdAt: entry.createdAt, policies: entry.policies, vectors: stats.reduce((n, s) => n + s.count, 0) };
    }));
  }

  /**
   * Inserts or replaces rows, all or none; resolves when every shard's part is durable and applied.
   * Everything a shard would check is checked here first, so a bad row fails the batch before any append.
   */
  async upsert(name: string, rows: readonly Row[]): Promise<WriteAck> {
    const entry = this.#entry(name);
    const checked = checkRows(rows, entry, this.config);
    const parts = new Map<number, WritePart>();
    for (const [shard, part] of groupBy(checked, (r) => shardOf(r.id, entry.shards))) {
      const vectors = new Float32Array(part.length * entry.dims);
      part.forEach((r, i) => vectors.set(r.vector, i * entry.dims));
      parts.set(shard, { upsert: { ids: part.map((r) => r.id), vectors, payloads: part.map((r) => r.payload) } });
    }
    return { rows: checked.length, positions: await this.#write(entry, parts) };
  }

  /** Deletes rows, all or none (see upsert). */
  async delete(name: string, ids: readonly string[]): Promise<WriteAck> {
    const entry = this.#entry(name);
    checkBatchSize(ids.length, this.config);
    for (const id of ids) checkId(id, this.config.maxIdBytes);
    const parts = new Map<number, WritePart>();
    for (const [shard, part] of groupBy(ids, (id) => shardOf(id, entry.shards))) parts.set(shard, { delete: part });
    return { rows: ids.length, positions: await this.#write(entry, parts) };
  }

  /** One call's writes: one shard's part is one record (its own commit point); several commit together. */
  async #write(entry: CollectionEntry, parts: Map<number, WritePart>): Promise<Record<number, number>> {
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

  async get(name: string, id: string): Promise<StoredRow | null> {
    const entry = this.#entry(name);
    checkId(id, this.config.maxIdBytes);
    return this.#host.call({ type: 'get', shard: shardKey(entry, shardOf(id, entry.shards)), id });
  }

  /** The k nearest rows over all shards, nearest first (ef: params > collection policy > server default; SQL resolves the session's first). */
  async search(name: string, query: Float32Array | readonly number[], k: number, params: SearchParams = {}): Promise<SearchRow[]> {
    const { entry, options, vector } = this.#searchPlan(name, query, k, params);
    return mergeTopK(await Promise.all(range(entry.shards).map((i) =>
      this.#host.call({ type: 'search', shard: shardKey(entry, i), query: vector, k, options }))), k);
  }

  /** search(), and for each shard how it was answered and how long it took; plus the merge time. */
  async explainSearch(name: string, query: Float32Array | readonly number[], k: number, params: SearchParams = {}): Promise<SearchExplanation> {
    const { entry, options, vector } = this.#searchPlan(name, query, k, params);
    const started = performance.now();
    const shards = await Promise.all(range(entry.shards).map((i) =>
      this.#host.call({ type: 'explain', shard: shardKey(entry, i), query: vector, k, options })));
    const fanOutMs = performance.now() - started;
    const mergeStarted = performance.now();
    const rows = mergeTopK(shards.map((s) => s.hits), k);
    return { rows, ef: options.ef, k, shards, fanOutMs, mergeMs: performance.now() - mergeStarted, metric: entry.metric };
  }

  /** What every shard of a search gets, checked once here. */
  #searchPlan(name: string, query: Float32Array | readonly number[], k: number, params: SearchParams) {
    const entry = this.#entry(name);
    const vector = ownBuffer(toVector(query, entry));
    const ef = params.ef ?? Number(resolvePolicy('ef_search', { settings: NONE, localSettings: NONE_SET, collection: entry.policies, config: this.config }).value);
    const filter = checkSearch(k, ef, params.filter, this.config);
    return { entry, options: { ef, filter }, vector };
  }

  async setPolicy(name: string, key: string, value: unknown): Promise<void> {
    const entry = this.#entry(name);
    await this.#catalog.setPolicy(entry.name, key, checkPolicy(key, value, this.config));
  }

  policies(name: string): Record<string, string> {
    return { ...this.#entry(name).policies };
  }

  /** Snapshots every shard of the collection now (tests, benchmarks, before a planned shutdown). */
  async snapshot(name: string): Promise<void> {
    const entry = this.#entry(name);
    await Promise.all(range(entry.shards).map((i) => this.#host.call({ type: 'snapshot', shard: shardKey(entry, i) })));
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
          await this.snapshot(entry.name);
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

  /** Synchronous catalog lookup (no shard calls), e.g. to tell a COPY into a collection from one into a table. */
  spec(name: string): CollectionSpec | undefined {
    const entry = this.#catalog.get(name);
    return entry === undefined ? undefined : publicSpec(entry);
  }

  #entry(name: string): CollectionEntry {
    const entry = this.#catalog.get(checkCollectionName(name, this.config));
    if (entry === undefined) throw new VectorgateError(SqlState.UndefinedTable, `collection "${name}" does not exist`);
    return entry;
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

/** A caller of this API without a SQL session: no SET values. */
const NONE: ReadonlyMap<string, string> = new Map();
const NONE_SET: ReadonlySet<string> = new Set();

function shardKey(entry: CollectionEntry, shard: number): string {
  return `${entry.dir}/${shard}`;
}

function publicSpec(entry: CollectionEntry): CollectionSpec {
  const { name, dims, metric, shards, quantization, m, efConstruction, engine } = entry;
  return { name, dims, metric, shards, quantization, m, efConstruction, engine };
}

/**
 * The query as an array that owns its whole buffer: postMessage copies a typed array's entire buffer,
 * and copying a small query beats transferring it (a transfer cost ~10 µs more per message, measured).
 */
function ownBuffer(q: Float32Array): Float32Array {
  return q.byteOffset === 0 && q.byteLength === q.buffer.byteLength ? q : q.slice();
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function groupBy<T>(items: readonly T[], key: (item: T) => number): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const k = key(item);
    let group = groups.get(k);
    if (group === undefined) groups.set(k, (group = []));
    group.push(item);
  }
  return groups;
}

// The API the proxy calls for vector collections: catalog, routing, durable writes and searches over
// the shard workers. Writes are acknowledged only when every shard's log append is fsync'd; the
// returned positions (shard → sequence number) are what session consistency waits on.
import { join } from 'node:path';
import { makeConfig, type Config } from '../config.ts';
import type { StoredRow } from '../engine/shard.ts';
import type { IndexSpec } from '../engine/vector-index.ts';
import { SqlState, toVectorgateError, VectorgateError } from '../errors.ts';
import { removeIfExists } from '../storage/fsync.ts';
import { Catalog, type CollectionEntry, type CollectionSpec } from '../storage/catalog.ts';
import { checkPolicy, resolvePolicy } from './policies.ts';
import { mergeTopK, shardOf } from './router.ts';
import { ShardHost } from './shard-host.ts';
import type { ExplainedSearch } from './shard-replica.ts';
import { checkBatchSize, checkCollectionName, checkCreateSpec, checkRows, checkSearch, toVector, type CreateSpec, type Row } from './validate.ts';
import { checkId } from '../engine/shard.ts';

export type { CreateSpec, Row } from './validate.ts';

export interface CollectionInfo extends CollectionSpec { createdAt: string; policies: Record<string, string>; vectors: number }
export interface SearchRow { id: string; distance: number; payload: string | null }
export interface WriteAck { rows: number; positions: Record<number, number> }
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
      await Promise.all(catalog.list().map((entry) => collections.#openShards(entry)));
    } catch (err) {
      await host.close();
      throw err;
    }
    return collections;
  }

  async createCollection(spec: CreateSpec): Promise<CollectionInfo> {
    const checked = checkCreateSpec(spec, this.config);
    if (this.#catalog.list().length >= this.config.maxCollections) {
      throw new VectorgateError(SqlState.ProgramLimitExceeded, `there are already ${this.config.maxCollections} collections`);
    }
    // Files first, catalog entry last: a failure (53100 on a full disk) removes what was made, and a
    // crash in between leaves only a directory that Catalog.open removes.
    const entry = this.#catalog.prepare(checked);
    try {
      await this.#openShards(entry);
      await this.#catalog.commit(entry);
    } catch (err) {
      await Promise.allSettled(range(entry.shards).map((i) => this.#host.closeShard(shardKey(entry, i))));
      await removeIfExists(this.#catalog.collectionDir(entry));
      throw toVectorgateError(err);
    }
    return { ...entry, vectors: 0 };
  }

  async dropCollection(name: string): Promise<void> {
    const entry = await this.#catalog.remove(this.#entry(name).name);
    await Promise.all(range(entry.shards).map((i) => this.#host.closeShard(shardKey(entry, i))));
    await removeIfExists(this.#catalog.collectionDir(entry));
  }

  async listCollections(): Promise<CollectionInfo[]> {
    return Promise.all(this.#catalog.list().map(async (entry) => {
      const stats = await Promise.all(range(entry.shards).map((i) => this.#host.call({ type: 'stats', shard: shardKey(entry, i) })));
      return { ...publicSpec(entry), createdAt: entry.createdAt, policies: entry.policies, vectors: stats.reduce((n, s) => n + s.count, 0) };
    }));
  }

  /** Inserts or replaces rows; resolves when every shard's part is durable (and applied). */
  async upsert(name: string, rows: readonly Row[]): Promise<WriteAck> {
    const entry = this.#entry(name);
    const checked = checkRows(rows, entry, this.config);
    const groups = groupBy(checked, (r) => shardOf(r.id, entry.shards));
    const positions: Record<number, number> = {};
    await Promise.all([...groups].map(async ([shard, part]) => {
      const vectors = new Float32Array(part.length * entry.dims);
      part.forEach((r, i) => vectors.set(r.vector, i * entry.dims));
      const upsert = { ids: part.map((r) => r.id), vectors, payloads: part.map((r) => r.payload) };
      positions[shard] = await this.#host.call({ type: 'write', shard: shardKey(entry, shard), upsert }, [vectors.buffer]);
    }));
    return { rows: checked.length, positions };
  }

  async delete(name: string, ids: readonly string[]): Promise<WriteAck> {
    const entry = this.#entry(name);
    checkBatchSize(ids.length, this.config);
    for (const id of ids) checkId(id, this.config.maxIdBytes);
    const positions: Record<number, number> = {};
    await Promise.all([...groupBy(ids, (id) => shardOf(id, entry.shards))].map(async ([shard, part]) => {
      positions[shard] = await this.#host.call({ type: 'write', shard: shardKey(entry, shard), delete: part });
    }));
    return { rows: ids.length, positions };
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
      await this.#host.close();
    }
    if (failed.length === 0) return;
    const cause = toVectorgateError(failed[0]!.err);
    throw new VectorgateError(cause.code,
      `no snapshot of ${failed.map((f) => `"${f.name}"`).join(', ')} at shutdown: ${cause.message}; ` +
      'the write-ahead log keeps every acknowledged write and the next start replays it', { cause: failed[0]!.err });
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

  async #openShards(entry: CollectionEntry): Promise<void> {
    const spec: IndexSpec = { dims: entry.dims, metric: entry.metric, quantization: entry.quantization, m: entry.m, efConstruction: entry.efConstruction, engine: entry.engine };
    const dir = this.#catalog.collectionDir(entry);
    // Every open settles before a failure is reported, so that the caller's cleanup closes them all.
    const opened = await Promise.allSettled(range(entry.shards).map((i) => this.#host.open(shardKey(entry, i), join(dir, `shard-${i}`), spec)));
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

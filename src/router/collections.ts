// The API the proxy calls for vector collections. A collection belongs to a database, so everything
// that names one goes through that database's view (in(database): DatabaseCollections); what is left
// here spans databases: opening and closing the store, and what a role owns in all of them (roles
// are cluster-wide in PostgreSQL). The machinery (catalog, shard workers, durable writes) is
// CollectionStore, which only these classes hold.
import { join } from 'node:path';
import { makeConfig, type Config } from '../config.ts';
import { CollectionStore, type CollectionSeams, type OpenOptions } from './collection-store.ts';
import { DatabaseCollections } from './database-collections.ts';
import type { SessionPositions } from './session-positions.ts';
import { openEmbeddedSeams } from './embedded-seams.ts';
import type { FallbackCause, RerankerKind } from './rerank/reranker.ts';
import { SearchPipeline, type SearchPipelineStats } from './search-pipeline.ts';

export type { CreateSpec, Row } from './validate.ts';
export type { CollectionInfo, ReadParams, SearchExplanation, SearchParams, SearchRow, WriteAck } from './collection-types.ts';
export { SessionPositions } from './session-positions.ts';

/** Told of every rerank (the proxy's metrics). */
export type RerankListener = (kind: RerankerKind, seconds: number, fellBack: FallbackCause | null) => void;

/** Where the next start finds the searches to warm up (search-warmup.ts). */
export const WARMUP_FILE = 'search-warmup.json';

export class Collections {
  readonly #store: CollectionStore;
  readonly #pipeline: SearchPipeline;
  readonly #rerankListeners = new Set<RerankListener>();

  private constructor(store: CollectionStore, dataDir: string) {
    this.#store = store;
    const events = { reranked: (kind: RerankerKind, seconds: number, fellBack: FallbackCause | null) => { for (const l of this.#rerankListeners) l(kind, seconds, fellBack); } };
    this.#pipeline = new SearchPipeline(store, store.config, events, { cluster: store.writesElsewhere, warmupFile: join(dataDir, WARMUP_FILE) });
    void store.recovered().then(() => this.#pipeline.warmUpSaved());
  }

  /**
   * Opens the catalog in dataDir and every collection's shards (snapshot + log replay each): before
   * it returns, or in the background (options.background: the proxy listens meanwhile, and each
   * collection answers once it has recovered; see recovered()).
   */
  static async open(dataDir: string, config: Config = makeConfig({ dataDir }), options: OpenOptions = {}): Promise<Collections> {
    return Collections.openWith(dataDir, config, await openEmbeddedSeams(dataDir, config), options);
  }

  /** The same over given seams (the cluster's: catalog in etcd, replicas on worker processes). */
  static async openWith(dataDir: string, config: Config, seams: CollectionSeams, options: OpenOptions = {}): Promise<Collections> {
    return new Collections(await CollectionStore.open(dataDir, config, seams, options), dataDir);
  }

  /** Resolves once every collection the open found has recovered or failed to (each failure is logged). */
  recovered(): Promise<void> { return this.#store.recovered(); }

  get config(): Config { return this.#store.config; }

  /** Collections in every database. */
  get count(): number { return this.#store.all().length; }

  /** Where every collection lives and who owns it (no data): the embedded start makes their relations. */
  owners(): { database: string; name: string; owner: string }[] {
    return this.#store.all().map(({ database, name, owner }) => ({ database, name, owner }));
  }

  /** The collections of one database (the only way to reach one by name). */
  in(database: string, positions: SessionPositions | null = null): DatabaseCollections {
    return new DatabaseCollections(this.#store, this.#pipeline, database, positions);
  }

  /** What the collections a role owns hold, over every database (roles are cluster-wide): for quotas. */
  async usageOfOwner(owner: string): Promise<{ collections: number; vectors: number; bytes: number }> {
    const owned = this.#store.all().filter((entry) => entry.owner === owner);
    const usages = await Promise.all(owned.map((entry) => this.#store.usage(entry)));
    return {
      collections: owned.length,
      vectors: usages.reduce((n, u) => n + u.vectors, 0),
      bytes: usages.reduce((n, u) => n + u.bytes, 0),
    };
  }

  /** Calls listener after every rerank, until the returned function is called. */
  onRerank(listener: RerankListener): () => void {
    this.#rerankListeners.add(listener);
    return () => { this.#rerankListeners.delete(listener); };
  }

  /** The search cache, coalescing and warmup counters (the proxy's metrics). */
  searchStats(): SearchPipelineStats {
    return this.#pipeline.stats();
  }

  /** Saves the warmup list and closes reranker connections, snapshots every collection it can (see CollectionStore.close), then stops the shard workers. */
  async close(): Promise<void> {
    await this.#pipeline.close().catch(() => undefined);
    await this.#store.close();
  }
}

// Builds the embedded default's three seams: the catalog file in dataDir, shard replicas on
// worker_threads over local WALs, and writes through each collection's decision log. The one place
// (besides the cli's cluster deployment) that names their concrete classes.
import type { Config } from '../config.ts';
import { Catalog } from '../storage/catalog.ts';
import type { CatalogChange, CatalogStore, CollectionEntry, NewCollection } from '../storage/catalog-store.ts';
import { LocalWritePath } from './local-write-path.ts';
import type { ShardTransport } from './shard-transport.ts';
import { ThreadTransport } from './thread-transport.ts';
import type { WritePath } from './write-path.ts';

export interface Seams { catalog: CatalogStore; transport: ShardTransport; writes: WritePath }

/** Opens the catalog in dataDir (migrating a version-1 one) and starts the shard worker threads. */
export async function openEmbeddedSeams(dataDir: string, config: Config): Promise<Seams> {
  const catalog = await Catalog.open(dataDir, { database: config.catalogMigrationDatabase, owner: config.catalogMigrationOwner });
  let writes: LocalWritePath | undefined;
  // A restarted thread reopens its shards with the commits their decision log holds by then.
  const transport = new ThreadTransport(config, { committedOf: (shard) => writes!.committedOf(shard) });
  writes = new LocalWritePath(config, transport);
  return { catalog: new WatchedCatalog(catalog), transport, writes };
}

/**
 * The catalog file as a CatalogStore: this process is its only writer, so its watch reports the
 * changes made through it.
 */
class WatchedCatalog implements CatalogStore {
  readonly #catalog: Catalog;
  readonly #listeners = new Set<(change: CatalogChange) => void>();
  constructor(catalog: Catalog) { this.#catalog = catalog; }

  list(): CollectionEntry[] { return this.#catalog.list(); }
  listIn(database: string): CollectionEntry[] { return this.#catalog.listIn(database); }
  get(database: string, name: string): CollectionEntry | undefined { return this.#catalog.get(database, name); }
  prepare(spec: NewCollection, now?: Date): CollectionEntry { return this.#catalog.prepare(spec, now); }
  async commit(entry: CollectionEntry): Promise<CollectionEntry> { return this.#emit('put', await this.#catalog.commit(entry)); }
  async remove(database: string, name: string): Promise<CollectionEntry> { return this.#emit('delete', await this.#catalog.remove(database, name)); }
  async setPolicy(database: string, name: string, policy: string, value: string | null): Promise<CollectionEntry> {
    return this.#emit('put', await this.#catalog.setPolicy(database, name, policy, value));
  }
  watch(listener: (change: CatalogChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  async close(): Promise<void> { this.#listeners.clear(); }

  #emit(kind: CatalogChange['kind'], entry: CollectionEntry): CollectionEntry {
    for (const listener of this.#listeners) listener({ kind, entry });
    return entry;
  }
}

// The seam for the catalog: collections (each keyed by database and name, with its owner) and their
// policies, with a watch so that every proxy sees a change without a look-up per query. Two
// implementations, one contract (test/storage/catalog-store-contract.ts):
// - the local file (catalog.ts: one atomically replaced file, the embedded default);
// - etcd keys (etcd-catalog.ts: one key per collection, created and changed in guarded transactions,
//   so two proxies creating the same name cannot both succeed).
// Reads are synchronous, from memory; a change resolves once it is durable (file fsync'd, or etcd
// committed), and the watch sees it — from this store or another process's — after that.
import type { CollectionEntry, NewCollection } from './catalog.ts';

export type { CollectionEntry, CollectionSpec, NewCollection } from './catalog.ts';

export type CatalogChange =
  | { kind: 'put'; entry: CollectionEntry }
  | { kind: 'delete'; entry: CollectionEntry };

export interface CatalogStore {
  /** Every collection of every database, by database, then name. */
  list(): CollectionEntry[];
  /** The collections of one database, by name. */
  listIn(database: string): CollectionEntry[];
  get(database: string, name: string): CollectionEntry | undefined;
  /** A new entry with its own directory name (unique per incarnation), not yet in the catalog; 42710 if the name is taken. */
  prepare(spec: NewCollection, now?: Date): CollectionEntry;
  /** Adds a prepared entry durably; 42710 if the name was taken meanwhile (by anyone). */
  commit(entry: CollectionEntry): Promise<CollectionEntry>;
  /** Removes the entry durably; 42P01 if there is none. */
  remove(database: string, name: string): Promise<CollectionEntry>;
  /** Sets (value null: removes) one policy durably. */
  setPolicy(database: string, name: string, policy: string, value: string | null): Promise<CollectionEntry>;
  /** Every change after it is durable, in order; returns the unsubscribe function. */
  watch(listener: (change: CatalogChange) => void): () => void;
  close(): Promise<void>;
}

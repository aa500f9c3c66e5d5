// The local catalog: collections and their policies, in <dataDir>/catalog.json, rewritten whole and
// atomically (temp file, fsync, rename, fsync directory) on every change; changes are serialised.
// A collection belongs to a database and has an owner role: the key is (database, name), so the same
// name in two databases is two collections (as with tables), each with its own directory.
// Version 1 files (no databases, no owners) are migrated at open: every entry goes to one database and
// owner the caller names, and the file is rewritten as version 2 in one atomic replace, so a crash
// leaves either version, both readable.
// Each collection's data lives in its own directory named per incarnation, so a collection dropped
// and re-created under the same name never sees the old data, and directories that no catalog entry
// names (a crash between the catalog write and the removal) are removed on open.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqlState, VectorgateError } from '../errors.ts';
import type { EngineKind, Metric, Quantization } from '../engine/vector-index.ts';
import { removeIfExists, writeFileAtomic } from './fsync.ts';
import type { CatalogChange, CatalogStore } from './catalog-store.ts';

export interface CollectionSpec {
  name: string;
  dims: number;
  metric: Metric;
  shards: number;
  /** Copies of each shard the cluster keeps (catalogs written before replicas existed: 1); embedded: one whatever the number. */
  replicas: number;
  quantization: Quantization;
  m: number;
  efConstruction: number;
  engine: EngineKind;
}

export interface CollectionEntry extends CollectionSpec {
  /** The database it belongs to (the one its creator's session was connected to). */
  database: string;
  /** The role that created it (current_user then). */
  owner: string;
  /** Directory under <dataDir>/collections. */
  dir: string;
  createdAt: string;
  policies: Record<string, string>;
}

/** What a new collection needs besides its spec: where it belongs and who owns it. */
export interface NewCollection extends CollectionSpec { database: string; owner: string }

/** Where the collections of a version-1 catalog go. */
export interface MigrationTarget { database: string; owner: string }

const FILE = 'catalog.json';
const VERSION = 2;
export const COLLECTIONS_DIR = 'collections';

export class Catalog implements CatalogStore {
  readonly dataDir: string;
  /** By key(database, name). */
  readonly #entries: Map<string, CollectionEntry>;
  readonly #listeners = new Set<(change: CatalogChange) => void>();
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(dataDir: string, entries: CollectionEntry[]) {
    this.dataDir = dataDir;
    this.#entries = new Map(entries.map((e) => [key(e.database, e.name), e]));
  }

  static async open(dataDir: string, migration: MigrationTarget): Promise<Catalog> {
    mkdirSync(join(dataDir, COLLECTIONS_DIR), { recursive: true });
    const { version, entries } = readEntries(join(dataDir, FILE), migration);
    const catalog = new Catalog(dataDir, entries);
    if (version !== VERSION) await catalog.#write();
    const known = new Set(catalog.list().map((e) => e.dir));
    for (const dir of readdirSync(join(dataDir, COLLECTIONS_DIR))) {
      if (!known.has(dir)) await removeIfExists(join(dataDir, COLLECTIONS_DIR, dir));
    }
    return catalog;
  }

  /** Every collection of every database, by database, then name. */
  list(): CollectionEntry[] {
    return [...this.#entries.values()].sort((a, b) => a.database.localeCompare(b.database) || a.name.localeCompare(b.name));
  }

  /** The collections of one database, by name. */
  listIn(database: string): CollectionEntry[] {
    return this.list().filter((e) => e.database === database);
  }

  get(database: string, name: string): CollectionEntry | undefined {
    return this.#entries.get(key(database, name));
  }

  collectionDir(entry: CollectionEntry): string {
    return join(this.dataDir, COLLECTIONS_DIR, entry.dir);
  }

  /** Adds a collection; 42710 if its database has one of that name. Durable when the promise resolves. */
  async add(spec: NewCollection, now = new Date()): Promise<CollectionEntry> {
    return this.commit(this.prepare(spec, now));
  }

  /**
   * A new entry with its own directory name, not yet in the catalog: the caller creates its files,
   * then commits it, so that a failure in between (a full disk) leaves no entry without its files.
   */
  prepare(spec: NewCollection, now = new Date()): CollectionEntry {
    this.#requireFree(spec.database, spec.name);
    return newEntry(spec, now);
  }

  /** Adds a prepared entry durably; 42710 if the name was taken meanwhile. */
  commit(entry: CollectionEntry): Promise<CollectionEntry> {
    return this.#change(() => {
      this.#requireFree(entry.database, entry.name);
      this.#entries.set(key(entry.database, entry.name), entry);
      return { kind: 'put', entry };
    });
  }

  /** Removes the entry durably; the caller removes the directory afterwards (open() finishes it after a crash). */
  remove(database: string, name: string): Promise<CollectionEntry> {
    return this.#change(() => {
      const entry = this.#require(database, name);
      this.#entries.delete(key(database, name));
      return { kind: 'delete', entry };
    });
  }

  setPolicy(database: string, name: string, policy: string, value: string | null): Promise<CollectionEntry> {
    return this.#change(() => {
      const updated = withPolicy(this.#require(database, name), policy, value);
      this.#entries.set(key(database, name), updated);
      return { kind: 'put', entry: updated };
    });
  }

  /** Every change of this catalog once it is on disk, in order (only this process writes the file). */
  watch(listener: (change: CatalogChange) => void): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  /** Waits for the change being written; later changes are refused. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    await this.#chain;
  }

  #requireFree(database: string, name: string): void {
    if (this.#entries.has(key(database, name))) throw duplicateCollection(name);
  }

  #require(database: string, name: string): CollectionEntry {
    const entry = this.#entries.get(key(database, name));
    if (entry === undefined) throw missingCollection(name);
    return entry;
  }

  #write(): Promise<void> {
    return writeFileAtomic(join(this.dataDir, FILE), JSON.stringify({ version: VERSION, collections: this.list() }, null, 1));
  }

  /**
   * Applies `mutate` to a copy, writes it, and only then makes it visible and tells the watchers;
   * one change at a time, so they see the changes in the order they were made.
   */
  #change(mutate: () => CatalogChange): Promise<CollectionEntry> {
    if (this.#closed) return Promise.reject(new Error('the catalog is closed'));
    const run = this.#chain.then(async () => {
      const before = new Map(this.#entries);
      let change: CatalogChange;
      try {
        change = mutate();
        await this.#write();
      } catch (err) {
        this.#entries.clear();
        for (const [k, v] of before) this.#entries.set(k, v);
        throw err;
      }
      notify(this.#listeners, change);
      return change.entry;
    });
    this.#chain = run.then(() => undefined, () => undefined);
    return run;
  }
}

/** A stored entry: it has a database and an owner; one written before replicas existed has one. */
function checkedEntry(e: CollectionEntry): CollectionEntry {
  if (typeof e.database !== 'string' || typeof e.owner !== 'string') throw new Error(`collection "${e.name}" has no database or owner`);
  return withReplicas(e);
}

function withReplicas(e: CollectionEntry): CollectionEntry {
  return typeof e.replicas === 'number' ? e : { ...e, replicas: 1 };
}

/** One entry stored as JSON elsewhere (an etcd key, named by `where`); XX001 if it is not one. */
export function parseEntry(text: string, where: string): CollectionEntry {
  try {
    const parsed = JSON.parse(text) as CollectionEntry;
    if (typeof parsed !== 'object' || parsed === null || typeof parsed.name !== 'string' || typeof parsed.dir !== 'string') throw new Error('not a collection entry');
    return checkedEntry(parsed);
  } catch (err) {
    throw new VectorgateError(SqlState.DataCorrupted, `catalog entry ${where} is unreadable: ${(err as Error).message}`, { cause: err });
  }
}

/** An entry with its own directory name: the name, the time and a random part, so no incarnation reuses one. */
export function newEntry(spec: NewCollection, now: Date): CollectionEntry {
  return { ...spec, dir: `${spec.name}-${now.getTime().toString(36)}-${Math.random().toString(36).slice(2, 8)}`, createdAt: now.toISOString(), policies: {} };
}

/** The entry with one policy set (value null: removed). */
export function withPolicy(entry: CollectionEntry, policy: string, value: string | null): CollectionEntry {
  const policies = { ...entry.policies };
  if (value === null) delete policies[policy]; else policies[policy] = value;
  return { ...entry, policies };
}

export function duplicateCollection(name: string): VectorgateError {
  return new VectorgateError(SqlState.DuplicateObject, `collection "${name}" already exists`);
}

export function missingCollection(name: string): VectorgateError {
  return new VectorgateError(SqlState.UndefinedTable, `collection "${name}" does not exist`);
}

/** A listener's failure is its own: the change is durable whatever a listener does with it. */
export function notify(listeners: Iterable<(change: CatalogChange) => void>, change: CatalogChange): void {
  for (const listener of [...listeners]) {
    try { listener(change); } catch { /* the listener reports its own failures */ }
  }
}

/** Database and collection names hold no NUL (PostgreSQL identifiers cannot), so this key is unambiguous. */
function key(database: string, name: string): string {
  return `${database}\0${name}`;
}

function readEntries(path: string, migration: MigrationTarget): { version: number; entries: CollectionEntry[] } {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: VERSION, entries: [] };
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as { version: number; collections: CollectionEntry[] };
    if (!Array.isArray(parsed.collections)) throw new Error('no collections list');
    if (parsed.version === 1) {
      return { version: 1, entries: parsed.collections.map((e) => withReplicas({ ...e, database: migration.database, owner: migration.owner })) };
    }
    if (parsed.version !== VERSION) throw new Error(`unknown catalog version ${parsed.version}`);
    return { version: VERSION, entries: parsed.collections.map(checkedEntry) };
  } catch (err) {
    throw new VectorgateError(SqlState.DataCorrupted, `catalog ${path} is unreadable: ${(err as Error).message}`, { severity: 'FATAL', cause: err });
  }
}

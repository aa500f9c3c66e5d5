// The local catalog: collections and their policies, in <dataDir>/catalog.json, rewritten whole and
// atomically (temp file, fsync, rename, fsync directory) on every change; changes are serialised.
// Each collection's data lives in its own directory named per incarnation, so a collection dropped
// and re-created under the same name never sees the old data, and directories that no catalog entry
// names (a crash between the catalog write and the removal) are removed on open.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqlState, VectorgateError } from '../errors.ts';
import type { EngineKind, Metric, Quantization } from '../engine/vector-index.ts';
import { removeIfExists, writeFileAtomic } from './fsync.ts';

export interface CollectionSpec {
  name: string;
  dims: number;
  metric: Metric;
  shards: number;
  quantization: Quantization;
  m: number;
  efConstruction: number;
  engine: EngineKind;
}

export interface CollectionEntry extends CollectionSpec {
  /** The role that created it (current_user then). */
  owner: string;
  /** Directory under <dataDir>/collections. */
  dir: string;
  createdAt: string;
  policies: Record<string, string>;
}

const FILE = 'catalog.json';
const VERSION = 1;
export const COLLECTIONS_DIR = 'collections';

export class Catalog {
  readonly dataDir: string;
  readonly #entries: Map<string, CollectionEntry>;
  #chain: Promise<void> = Promise.resolve();

  private constructor(dataDir: string, entries: CollectionEntry[]) {
    this.dataDir = dataDir;
    this.#entries = new Map(entries.map((e) => [e.name, e]));
  }

  static async open(dataDir: string): Promise<Catalog> {
    mkdirSync(join(dataDir, COLLECTIONS_DIR), { recursive: true });
    const catalog = new Catalog(dataDir, readEntries(join(dataDir, FILE)));
    const known = new Set(catalog.list().map((e) => e.dir));
    for (const dir of readdirSync(join(dataDir, COLLECTIONS_DIR))) {
      if (!known.has(dir)) await removeIfExists(join(dataDir, COLLECTIONS_DIR, dir));
    }
    return catalog;
  }

  list(): CollectionEntry[] {
    return [...this.#entries.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): CollectionEntry | undefined {
    return this.#entries.get(name);
  }

  collectionDir(entry: CollectionEntry): string {
    return join(this.dataDir, COLLECTIONS_DIR, entry.dir);
  }

  /** Adds a collection; 42710 if the name is taken. Durable when the promise resolves. */
  async add(spec: CollectionSpec & { owner?: string }, now = new Date()): Promise<CollectionEntry> {
    return this.commit(this.prepare(spec, now));
  }

  /**
   * A new entry with its own directory name, not yet in the catalog: the caller creates its files,
   * then commits it, so that a failure in between (a full disk) leaves no entry without its files.
   */
  prepare(spec: CollectionSpec & { owner?: string }, now = new Date()): CollectionEntry {
    this.#requireFree(spec.name);
    return { ...spec, owner: spec.owner ?? '', dir: `${spec.name}-${now.getTime().toString(36)}-${Math.random().toString(36).slice(2, 8)}`, createdAt: now.toISOString(), policies: {} };
  }

  /** Adds a prepared entry durably; 42710 if the name was taken meanwhile. */
  commit(entry: CollectionEntry): Promise<CollectionEntry> {
    return this.#change(() => {
      this.#requireFree(entry.name);
      this.#entries.set(entry.name, entry);
      return entry;
    });
  }

  /** Removes the entry durably; the caller removes the directory afterwards (open() finishes it after a crash). */
  remove(name: string): Promise<CollectionEntry> {
    return this.#change(() => {
      const entry = this.#require(name);
      this.#entries.delete(name);
      return entry;
    });
  }

  setPolicy(name: string, key: string, value: string | null): Promise<CollectionEntry> {
    return this.#change(() => {
      const entry = this.#require(name);
      const policies = { ...entry.policies };
      if (value === null) delete policies[key]; else policies[key] = value;
      const updated = { ...entry, policies };
      this.#entries.set(name, updated);
      return updated;
    });
  }

  #requireFree(name: string): void {
    if (this.#entries.has(name)) throw new VectorgateError(SqlState.DuplicateObject, `collection "${name}" already exists`);
  }

  #require(name: string): CollectionEntry {
    const entry = this.#entries.get(name);
    if (entry === undefined) throw new VectorgateError(SqlState.UndefinedTable, `collection "${name}" does not exist`);
    return entry;
  }

  /** Applies `mutate` to a copy, writes it, and only then makes it visible; one change at a time. */
  #change<T>(mutate: () => T): Promise<T> {
    const run = this.#chain.then(async () => {
      const before = new Map(this.#entries);
      let result: T;
      try {
        result = mutate();
        await writeFileAtomic(join(this.dataDir, FILE), JSON.stringify({ version: VERSION, collections: this.list() }, null, 1));
      } catch (err) {
        this.#entries.clear();
        for (const [k, v] of before) this.#entries.set(k, v);
        throw err;
      }
      return result;
    });
    this.#chain = run.then(() => undefined, () => undefined);
    return run;
  }
}

function readEntries(path: string): CollectionEntry[] {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as { version: number; collections: CollectionEntry[] };
    if (parsed.version !== VERSION || !Array.isArray(parsed.collections)) throw new Error(`unknown catalog version ${parsed.version}`);
    return parsed.collections;
  } catch (err) {
    throw new VectorgateError(SqlState.DataCorrupted, `catalog ${path} is unreadable: ${(err as Error).message}`, { severity: 'FATAL', cause: err });
  }
}

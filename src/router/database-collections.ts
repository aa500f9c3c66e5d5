// The collections of one database: a collection belongs to the database it was created in, its name
// is unique there, and sessions of other databases neither see nor reach it (as with tables).
// Local plans reach collections only through this view (collectionsOf(ctx) in src/sql/functions).
import type { Collections, CollectionInfo, CreateSpec, Row, SearchExplanation, SearchParams, SearchRow, WriteAck } from './collections.ts';
import type { StoredRow } from '../engine/shard.ts';
import type { CollectionSpec } from '../storage/catalog.ts';
import type { Config } from '../config.ts';

/** What a collection holds, for quotas: rows, and bytes of vectors (dims × 4 each) and payloads. */
export interface CollectionUsage { vectors: number; bytes: number }

export class DatabaseCollections {
  constructor(private readonly all: Collections, readonly database: string) {}

  get config(): Config { return this.all.config; }

  createCollection(spec: CreateSpec & { owner: string }): Promise<CollectionInfo> { return this.all.createCollection(spec); }
  dropCollection(name: string): Promise<void> { return this.all.dropCollection(name); }
  listCollections(): Promise<CollectionInfo[]> { return this.all.listCollections(); }
  upsert(name: string, rows: readonly Row[]): Promise<WriteAck> { return this.all.upsert(name, rows); }
  delete(name: string, ids: readonly string[]): Promise<WriteAck> { return this.all.delete(name, ids); }
  get(name: string, id: string): Promise<StoredRow | null> { return this.all.get(name, id); }
  search(name: string, query: Float32Array | readonly number[], k: number, params?: SearchParams): Promise<SearchRow[]> { return this.all.search(name, query, k, params); }
  explainSearch(name: string, query: Float32Array | readonly number[], k: number, params?: SearchParams): Promise<SearchExplanation> { return this.all.explainSearch(name, query, k, params); }
  setPolicy(name: string, key: string, value: unknown): Promise<void> { return this.all.setPolicy(name, key, value); }
  policies(name: string): Record<string, string> { return this.all.policies(name); }
  snapshot(name: string): Promise<void> { return this.all.snapshot(name); }
  /** Synchronous catalog lookup; undefined when this database has no such collection. */
  spec(name: string): (CollectionSpec & { owner: string }) | undefined {
    const spec = this.all.spec(name);
    return spec === undefined ? undefined : { ...spec, owner: '' };
  }
  /** Rows and bytes the collection holds now. */
  usage(name: string): Promise<CollectionUsage> { return this.all.usage(name); }
}

// The search cache: recent search answers, least recently used evicted past searchCacheMaxBytes.
// An entry is found by a 128-bit xxh3 hash (seeded per process, so nobody can aim a collision) of its
// key material — collection, its write generation, query vector bytes, k, filter, ef, rescoring and
// the rerank plan — and the material itself is kept and compared on every hit, so a collision can
// never serve another search's rows. A write to a collection bumps its generation (CollectionStore),
// so its entries become unreachable at once and age out of the LRU. Qdrant and PgBouncer keep no
// such cache; this follows Elasticsearch's shard request cache (invalidated by refreshes, LRU by size).
import { randomBytes } from 'node:crypto';
import { xxh3 } from '@node-rs/xxhash';
import { LRUCache } from 'lru-cache';
import type { SearchRow } from './collection-types.ts';

export interface CacheEntry {
  material: Buffer;
  rows: readonly SearchRow[];
  /** performance.now() when it was stored. */
  storedAtMs: number;
}

export interface SearchCacheStats { entries: number; bytes: number; hits: number; misses: number; evictions: number }

/** Bytes a row takes in the cache: its strings (UTF-16 in V8) and the object around them. */
const ROW_OVERHEAD_BYTES = 64;
const ENTRY_OVERHEAD_BYTES = 128;

export class SearchCache {
  readonly #lru: LRUCache<string, CacheEntry> | null;
  readonly #seed = randomBytes(8).readBigUInt64LE();
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  /** maxBytes 0: disabled (every get misses, set keeps nothing); ttlMs 0: entries do not expire by age. */
  constructor(maxBytes: number, ttlMs: number) {
    this.#lru = maxBytes <= 0 ? null : new LRUCache<string, CacheEntry>({
      maxSize: maxBytes,
      sizeCalculation: entrySize,
      ttl: ttlMs > 0 ? ttlMs : undefined,
      dispose: (_value, _key, reason) => { if (reason === 'evict') this.#evictions++; },
    });
  }

  get enabled(): boolean { return this.#lru !== null; }

  /** The map key of some key material. */
  keyOf(material: Buffer): string {
    return xxh3.xxh128(material, this.#seed).toString(36);
  }

  /** The cached rows for this material when an entry exists, matches exactly and is at most maxAgeMs old. */
  get(key: string, material: Buffer, maxAgeMs = Infinity): readonly SearchRow[] | undefined {
    const entry = this.#lru?.get(key);
    if (entry === undefined || !entry.material.equals(material) || performance.now() - entry.storedAtMs > maxAgeMs) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    return entry.rows;
  }

  /** Whether a matching entry exists, without counting a hit or a miss or refreshing its recency (warmup). */
  has(key: string, material: Buffer): boolean {
    return this.#lru?.peek(key)?.material.equals(material) ?? false;
  }

  set(key: string, material: Buffer, rows: readonly SearchRow[]): void {
    if (this.#lru === null) return;
    const entry = { material, rows, storedAtMs: performance.now() };
    // An answer bigger than the whole cache is not kept (lru-cache would refuse it anyway).
    if (entrySize(entry) > this.#lru.maxSize) return;
    this.#lru.set(key, entry);
  }

  stats(): SearchCacheStats {
    return { entries: this.#lru?.size ?? 0, bytes: this.#lru?.calculatedSize ?? 0, hits: this.#hits, misses: this.#misses, evictions: this.#evictions };
  }

  clear(): void {
    this.#lru?.clear();
  }
}

function entrySize(entry: CacheEntry): number {
  let bytes = ENTRY_OVERHEAD_BYTES + entry.material.length;
  for (const row of entry.rows) bytes += ROW_OVERHEAD_BYTES + 2 * (row.id.length + (row.payload?.length ?? 0));
  return bytes;
}

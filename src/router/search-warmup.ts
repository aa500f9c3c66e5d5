// Async warmup of the search cache (the seed's design): the proxy counts how often each recent search
// recurs (at most warmupTrackedSearches, least recently seen forgotten first); when writes make a
// collection's cached answers unreachable, warmupDelayMs after the last of them its warmupMaxSearches
// most frequent searches run again in the background, one at a time, yielding to the event loop
// between runs, rerank included, so a recurring query does not pay for the shards and the reranker
// again. At shutdown the tracked searches are saved (warmupFile); the next start re-runs them once
// their collections have recovered. Warmup answers only fill the cache: nobody reads them but a
// later search that passed its own privilege check.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { xxh3 } from '@node-rs/xxhash';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config.ts';
import type { SearchOptions } from '../engine/shard-search.ts';
import type { CollectionEntry } from '../storage/catalog.ts';
import type { RerankPlan } from './rerank/rerank-step.ts';
import { identityBytes } from './search-key.ts';
import { NEVER, type PipelineSearch } from './search-pipeline.ts';

export interface WarmupStats {
  tracked: number;
  /** Searches queued or scheduled (a write's delay running) and not yet run. */
  pending: number;
  runs: number;
  failures: number;
}

interface Tracked { dir: string; vector: Float32Array; k: number; options: SearchOptions; rerank: RerankPlan | null; count: number }

interface SavedSearch { dir: string; vector: string; k: number; options: SearchOptions; rerank: RerankPlan | null; count: number }

const FILE_VERSION = 1;

export class SearchWarmup {
  readonly #tracked: LRUCache<string, Tracked>;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  #runs = 0;
  #queued = 0;
  #failures = 0;

  constructor(
    private readonly config: Config,
    private readonly file: string | null,
    private readonly refresh: (search: PipelineSearch) => Promise<void>,
    private readonly entryAt: (dir: string) => CollectionEntry | undefined,
  ) {
    this.#tracked = new LRUCache({ max: Math.max(1, config.warmupTrackedSearches) });
  }

  get #enabled(): boolean { return this.config.warmupMaxSearches > 0 && !this.#closed; }

  /** A cacheable search ran (or was answered from the cache): count it (identity: search-key.ts). */
  note(identity: Buffer, search: PipelineSearch): void {
    if (!this.#enabled) return;
    const key = keyOf(identity);
    const seen = this.#tracked.get(key);
    if (seen !== undefined) {
      seen.count++;
      return;
    }
    // The query's own copy: the caller's buffer may be reused.
    this.#tracked.set(key, { dir: search.entry.dir, vector: search.vector.slice(), k: search.k, options: { ...search.options }, rerank: search.rerank, count: 1 });
  }

  /** A write to the collection in dir ended: warm its frequent searches after warmupDelayMs without another write. */
  written(dir: string): void {
    if (!this.#enabled) return;
    const pending = this.#timers.get(dir);
    if (pending !== undefined) clearTimeout(pending);
    const timer = setTimeout(() => {
      this.#timers.delete(dir);
      this.#enqueue(this.#mostFrequent(dir));
    }, this.config.warmupDelayMs);
    timer.unref();
    this.#timers.set(dir, timer);
  }

  /** Re-runs the searches saved at the last shutdown (call once the collections have recovered). */
  runSaved(): void {
    if (!this.#enabled || this.file === null) return;
    const saved = readSaved(this.file);
    for (const s of saved) {
      const vector = decodeVector(s.vector);
      this.#tracked.set(keyOf(identityBytes({ collection: s.dir, vector, k: s.k, options: s.options, rerank: s.rerank })), { ...s, vector });
    }
    const dirs = new Set(saved.map((s) => s.dir));
    for (const dir of dirs) this.#enqueue(this.#mostFrequent(dir));
  }

  stats(): WarmupStats {
    return { tracked: this.#tracked.size, pending: this.#queued + this.#timers.size, runs: this.#runs, failures: this.#failures };
  }

  /** Stops scheduling, lets the running warmup end, saves the tracked searches. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await this.#queue;
    if (this.file !== null && this.config.warmupMaxSearches > 0) this.#save(this.file);
  }

  #mostFrequent(dir: string): Tracked[] {
    return [...this.#tracked.values()].filter((t) => t.dir === dir).sort((a, b) => b.count - a.count).slice(0, this.config.warmupMaxSearches);
  }

  #enqueue(searches: Tracked[]): void {
    this.#queued += searches.length;
    this.#queue = this.#queue.then(async () => {
      for (const tracked of searches) {
        try {
          await this.#runOne(tracked);
        } finally {
          this.#queued--;
        }
      }
    });
  }

  async #runOne(tracked: Tracked): Promise<void> {
    if (this.#closed) return;
    await yieldToEventLoop();
    const entry = this.entryAt(tracked.dir);
    if (entry === undefined || entry.dims !== tracked.vector.length) return;
    try {
      await this.refresh(asSearch(entry, tracked));
      this.#runs++;
    } catch {
      // A warmup run is best effort (the collection may be recovering or gone); the count says so.
      this.#failures++;
    }
  }

  #save(file: string): void {
    const searches: SavedSearch[] = [...this.#tracked.values()].sort((a, b) => b.count - a.count)
      .map((t) => ({ ...t, vector: Buffer.from(t.vector.buffer, t.vector.byteOffset, t.vector.byteLength).toString('base64') }));
    const tmp = `${file}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify({ version: FILE_VERSION, searches }));
      renameSync(tmp, file);
    } catch {
      // Losing the warmup list costs only a cold cache after the next start.
      this.#failures++;
    }
  }
}

/** The saved searches, or none when the file is missing, from another version or malformed (it is only a hint). */
function readSaved(file: string): SavedSearch[] {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown; searches?: unknown };
    if (parsed.version !== FILE_VERSION || !Array.isArray(parsed.searches)) return [];
    return (parsed.searches as SavedSearch[]).filter((s) => typeof s?.dir === 'string' && typeof s.vector === 'string' && Number.isInteger(s.k) && typeof s.count === 'number');
  } catch {
    return [];
  }
}

/** Unseeded, so a key is the same after a restart; a collision only merges two searches' counts. */
function keyOf(identity: Buffer): string {
  return xxh3.xxh128(identity).toString(36);
}

function decodeVector(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + (bytes.length - (bytes.length % 4))));
}

function asSearch(entry: CollectionEntry, t: Tracked): PipelineSearch {
  return {
    entry, vector: t.vector, k: t.k, options: t.options, rerank: t.rerank, bounds: async () => () => undefined,
    cache: { use: true, maxAgeMs: Infinity }, signal: NEVER, remainingMs: () => Infinity,
  };
}

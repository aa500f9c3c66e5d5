// A search as explicit steps (the seed's read path): cache look-up → coalescing → fan-out to every
// shard → merge of their top lists → rerank → cut to k → cache store. Each step is a function of the
// one before's output; EXPLAIN runs the same steps without the cache and reports each.
//   - Fan-out asks each shard for k rows, or for the rerank top-N when a rerank will run (never more).
//   - Merge cuts the shards' lists to that many before anything else sees them.
//   - Rerank never fails a search (rerank-step.ts); an answer that fell back is not cached.
//   - The cache and coalescing apply only to reads whose consistency level allows an answer computed
//     before the read began: eventual always, bounded within max_staleness_ms; never session or
//     linearizable (the caller decides, see CachePolicy).
import type { Config } from '../config.ts';
import type { ShardHit, SearchOptions } from '../engine/shard-search.ts';
import type { CollectionEntry } from '../storage/catalog.ts';
import type { SearchRow } from './collection-types.ts';
import { RerankStep, type RerankEvents, type RerankOutcome, type RerankPlan } from './rerank/rerank-step.ts';
import { Rerankers } from './rerank/rerankers.ts';
import { mergeTopK } from './router.ts';
import { SearchCache, type SearchCacheStats } from './search-cache.ts';
import { SearchCoalescer } from './search-coalescer.ts';
import { identityBytes, materialOf } from './search-key.ts';
import { SearchWarmup, type WarmupStats } from './search-warmup.ts';
import type { ShardReadBounds } from './collection-store.ts';
import type { ExplainedSearch } from './shard-replica.ts';

/** Whether a search may be answered from the cache (and share an execution), and how old an answer may be. */
export interface CachePolicy { use: boolean; maxAgeMs: number }

export interface PipelineSearch {
  entry: CollectionEntry;
  vector: Float32Array;
  k: number;
  options: SearchOptions;
  /** The shards' read bounds (consistency), resolved only when the shards are asked. */
  bounds: () => Promise<ShardReadBounds>;
  /** null: no rerank (off, or no query text). */
  rerank: RerankPlan | null;
  cache: CachePolicy;
  signal: AbortSignal;
  /** Milliseconds left of the statement (rerank ends before). */
  remainingMs: () => number;
}

export type CacheUse = 'hit' | 'miss' | 'joined' | 'bypassed';

export interface PipelineAnswer { rows: readonly SearchRow[]; rerank: RerankOutcome | null; cache: CacheUse }

/** What the pipeline needs of the collections' machinery (CollectionStore). */
export interface SearchSource {
  search(entry: CollectionEntry, query: Float32Array, k: number, options: SearchOptions, read: ShardReadBounds): Promise<ShardHit[][]>;
  explain(entry: CollectionEntry, query: Float32Array, k: number, options: SearchOptions, read: ShardReadBounds): Promise<ExplainedSearch[]>;
  /** Bumped when a write to the collection starts and when it ends: part of every cache key. */
  writeGeneration(entry: CollectionEntry): number;
  /** The collection now at this directory, if it still exists (warmup re-runs by directory). */
  entryAt(dir: string): CollectionEntry | undefined;
}

export interface PipelineExplanation {
  rows: SearchRow[];
  shards: ExplainedSearch[];
  /** Rows each shard was asked for (k, or the rerank top-N). */
  fetched: number;
  fanOutMs: number;
  mergeMs: number;
  rerank: RerankOutcome | null;
}

export interface SearchPipelineStats { cache: SearchCacheStats; coalesced: number; warmup: WarmupStats }

/** A signal that never aborts: for executions no single caller owns (a shared search, a warmup run). */
export const NEVER = new AbortController().signal;

export class SearchPipeline {
  readonly #cache: SearchCache;
  readonly #coalescer: SearchCoalescer<PipelineAnswer>;
  readonly #rerankers: Rerankers;
  readonly #rerank: RerankStep;
  readonly #warmup: SearchWarmup;

  /** cluster: writes may go through other proxies, so cached answers also expire by age (searchCacheClusterTtlMs). */
  constructor(private readonly source: SearchSource, config: Config, events: RerankEvents, options: { cluster: boolean; warmupFile: string | null }) {
    this.#cache = new SearchCache(config.searchCacheMaxBytes, options.cluster ? config.searchCacheClusterTtlMs : 0);
    this.#coalescer = new SearchCoalescer(config.searchCoalesceMaxKeys, config.searchCoalesceMaxWaiters);
    this.#rerankers = new Rerankers(config);
    this.#rerank = new RerankStep(this.#rerankers, events);
    this.#warmup = new SearchWarmup(config, options.warmupFile, (search) => this.#refresh(search), (dir) => source.entryAt(dir));
  }

  /** The k rows of a search (nearest first, or in the reranker's order). */
  async search(search: PipelineSearch): Promise<PipelineAnswer> {
    if (!search.cache.use || !this.#cache.enabled) return this.#execute(search, search.signal, 'bypassed');
    const identity = identityBytes({ collection: search.entry.dir, vector: search.vector, k: search.k, options: search.options, rerank: search.rerank });
    const material = materialOf(identity, this.source.writeGeneration(search.entry));
    const key = this.#cache.keyOf(material);
    this.#warmup.note(identity, search);
    const cached = this.#cache.get(key, material, search.cache.maxAgeMs);
    if (cached !== undefined) return { rows: cached, rerank: null, cache: 'hit' };
    let leader = false;
    const answer = await this.#coalescer.run(key, material, search.signal, () => {
      leader = true;
      // Shared by every identical search that joins, so it must not stop with this caller's signal.
      return this.#execute(search, NEVER, 'miss').then((result) => {
        if (result.rerank?.fellBack === null || result.rerank === null) this.#cache.set(key, material, result.rows);
        return result;
      });
    });
    return leader ? answer : { ...answer, cache: 'joined' };
  }

  /** The steps with each one's account (EXPLAIN); never cached, never shared. */
  async explain(search: PipelineSearch): Promise<PipelineExplanation> {
    const fetched = fetchCount(search);
    const bounds = await search.bounds();
    const started = performance.now();
    const shards = await this.source.explain(search.entry, search.vector, fetched, search.options, bounds);
    const fanOutMs = performance.now() - started;
    const mergeStarted = performance.now();
    const merged = mergeTopK(shards.map((s) => s.hits), fetched);
    const mergeMs = performance.now() - mergeStarted;
    const { rows, rerank } = await this.#rerankStep(merged, search, search.signal);
    return { rows: rows.slice(0, search.k), shards, fetched, fanOutMs, mergeMs, rerank };
  }

  /** A write to the collection ended: its cached answers are unreachable now; warm the frequent ones again. */
  written(entry: CollectionEntry): void {
    this.#warmup.written(entry.dir);
  }

  /** After a start: re-run the searches saved at the last shutdown, once their collections have recovered. */
  warmUpSaved(): void {
    this.#warmup.runSaved();
  }

  stats(): SearchPipelineStats {
    return { cache: this.#cache.stats(), coalesced: this.#coalescer.joined, warmup: this.#warmup.stats() };
  }

  /** Saves the frequent searches for the next start's warmup, closes reranker connections. */
  async close(): Promise<void> {
    await this.#warmup.close();
    this.#cache.clear();
    await this.#rerankers.close();
  }

  async #execute(search: PipelineSearch, signal: AbortSignal, cache: CacheUse): Promise<PipelineAnswer> {
    const fetched = fetchCount(search);
    const lists = await this.source.search(search.entry, search.vector, fetched, search.options, await search.bounds());
    const merged = mergeTopK(lists, fetched);
    const { rows, rerank } = await this.#rerankStep(merged, search, signal);
    return { rows: rows.length > search.k ? rows.slice(0, search.k) : rows, rerank, cache };
  }

  async #rerankStep(merged: SearchRow[], search: PipelineSearch, signal: AbortSignal): Promise<{ rows: SearchRow[]; rerank: RerankOutcome | null }> {
    if (search.rerank === null || merged.length === 0) return { rows: merged, rerank: null };
    const { rows, outcome } = await this.#rerank.run(merged, search.rerank, signal, search.remainingMs());
    return { rows, rerank: outcome };
  }

  /** Warmup: run a search again (eventual, no statement) so its answer is cached at the current generation. */
  async #refresh(search: PipelineSearch): Promise<void> {
    const material = materialOf(identityBytes({ collection: search.entry.dir, vector: search.vector, k: search.k, options: search.options, rerank: search.rerank }),
      this.source.writeGeneration(search.entry));
    const key = this.#cache.keyOf(material);
    if (this.#cache.has(key, material)) return;
    const result = await this.#execute(search, NEVER, 'miss');
    if (result.rerank === null || result.rerank.fellBack === null) this.#cache.set(key, material, result.rows);
  }
}

/** Rows each shard is asked for: k, or the rerank top-N (at least k) when a rerank will run. */
function fetchCount(search: PipelineSearch): number {
  return search.rerank === null ? search.k : Math.max(search.k, search.rerank.topN);
}

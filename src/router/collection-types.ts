// What the collections API answers with (shared by Collections and its per-database view).
import type { CollectionSpec } from '../storage/catalog.ts';
import type { ReadConsistency } from './policies.ts';
import type { RerankOutcome, RerankPlan } from './rerank/rerank-step.ts';
import type { ExplainedSearch } from './shard-replica.ts';

export interface CollectionInfo extends CollectionSpec {
  owner: string;
  database: string;
  createdAt: string;
  policies: Record<string, string>;
  /** Rows held; null while the collection recovers after a start (or failed to). */
  vectors: number | null;
  /** Of those, rows in the HNSW index; the rest are searched exactly until they join it (Qdrant's indexed_vectors_count). */
  indexedVectors: number | null;
}
export interface SearchRow { id: string; distance: number; payload: string | null }
export interface WriteAck { rows: number; positions: Record<number, number> }

/** How fresh a read must be (policy read_consistency, resolved by the caller); absent: eventual. */
export interface ReadParams {
  consistency?: ReadConsistency;
  /** For bounded: how far behind its log the replica may be. */
  maxStalenessMs?: number;
  /** How long to wait for a replica that meets the level (then 57014). */
  waitMs?: number;
}

/** ef, oversample (undefined: the quantization's default) and rescore: params > collection policy > server default. */
export interface SearchParams extends ReadParams {
  ef?: number;
  filter?: unknown;
  oversample?: number;
  rescore?: boolean;
  /** The resolved rerank (absent or null: none; SQL resolves the policies and query_text). */
  rerank?: RerankPlan | null;
  /** Policy search_cache (absent: auto). */
  searchCache?: 'auto' | 'on' | 'off';
  /** The statement's signal (cancel, time limit) and time left, for the steps that may fall back. */
  signal?: AbortSignal;
  remainingMs?: () => number;
}
export interface SearchExplanation {
  rows: SearchRow[];
  ef: number;
  k: number;
  metric: string;
  quantization: string;
  /** Rows each shard was asked for: k, or the rerank top-N. */
  fetched: number;
  shards: ExplainedSearch[];
  fanOutMs: number;
  mergeMs: number;
  /** The rerank asked for (null: none) and what happened (null: it did not run, e.g. no candidates). */
  rerankPlan: RerankPlan | null;
  rerank: RerankOutcome | null;
}

// What the collections API answers with (shared by Collections and its per-database view).
import type { CollectionSpec } from '../storage/catalog.ts';
import type { ReadConsistency } from './policies.ts';
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
export interface SearchParams extends ReadParams { ef?: number; filter?: unknown; oversample?: number; rescore?: boolean }
export interface SearchExplanation {
  rows: SearchRow[];
  ef: number;
  k: number;
  metric: string;
  quantization: string;
  shards: ExplainedSearch[];
  fanOutMs: number;
  mergeMs: number;
}

// What the collections API answers with (shared by Collections and its per-database view).
import type { CollectionSpec } from '../storage/catalog.ts';
import type { ExplainedSearch } from './shard-replica.ts';

export interface CollectionInfo extends CollectionSpec {
  owner: string;
  database: string;
  createdAt: string;
  policies: Record<string, string>;
  vectors: number;
}
export interface SearchRow { id: string; distance: number; payload: string | null }
export interface WriteAck { rows: number; positions: Record<number, number> }

export interface SearchParams { ef?: number; filter?: unknown }
export interface SearchExplanation {
  rows: SearchRow[];
  ef: number;
  k: number;
  metric: string;
  shards: ExplainedSearch[];
  fanOutMs: number;
  mergeMs: number;
}

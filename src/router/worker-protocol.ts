// Messages between the router (main thread) and shard workers. Vectors travel as Float32Arrays whose
// buffers are transferred, not copied. Errors travel as plain fields and become VectorgateErrors again.
import type { Config } from '../config.ts';
import type { SearchOptions, ShardHit, StoredRow } from '../engine/shard.ts';
import type { IndexSpec } from '../engine/vector-index.ts';
import { isNoSpace, SqlState, toVectorgateError, VectorgateError, type Severity, type SqlStateCode } from '../errors.ts';
import type { ExplainedSearch, ReplicaStats } from './shard-replica.ts';

export interface WorkerData { config: Config }

export interface UpsertRows { ids: string[]; vectors: Float32Array; payloads: (string | null)[] }

/**
 * What a read needs of the replica that answers it (the consistency levels); absent: any replica, as
 * it is (eventual). The embedded default's one replica has applied every acknowledged write.
 */
export interface ReadBound {
  /** The replica must have applied at least this seq (session: the session's last write; linearizable: the log's committed position). */
  minSeq?: number;
  /** The replica must have been caught up with its log within this many ms (bounded). */
  maxStalenessMs?: number;
  /** How long a replica may wait to satisfy the bound before the read fails. */
  waitMs: number;
}

export type Request =
  | { type: 'open'; shard: string; dir: string; spec: IndexSpec; committed: number[] }
  | { type: 'close'; shard: string }
  | { type: 'write'; shard: string; upsert?: UpsertRows; delete?: string[] }
  | { type: 'prepare'; shard: string; txid: number; upsert?: UpsertRows; delete?: string[] }
  | { type: 'decide'; shard: string; txid: number; commit: boolean }
  | { type: 'retained'; shard: string }
  | { type: 'search'; shard: string; query: Float32Array; k: number; options: SearchOptions; read?: ReadBound }
  | { type: 'explain'; shard: string; query: Float32Array; k: number; options: SearchOptions; read?: ReadBound }
  | { type: 'get'; shard: string; id: string; read?: ReadBound }
  | { type: 'stats'; shard: string }
  | { type: 'snapshot'; shard: string };

export interface Results {
  open: null;
  close: null;
  write: number;
  prepare: number;
  decide: number | null;
  retained: number | null;
  search: ShardHit[];
  explain: ExplainedSearch;
  get: StoredRow | null;
  stats: ReplicaStats;
  snapshot: null;
}

export interface WireError { code: SqlStateCode; message: string; detail?: string; hint?: string; severity: Severity }

export type Response = { rid: number; ok: true; value: unknown } | { rid: number; ok: false; error: WireError };

export function toWire(err: unknown): WireError {
  if (err instanceof VectorgateError) {
    return { code: err.code, message: err.message, detail: err.detail, hint: err.hint, severity: err.severity };
  }
  if (isNoSpace(err)) return toWire(toVectorgateError(err));
  const message = err instanceof Error ? err.message : String(err);
  return { code: SqlState.InternalError, message: `internal error in shard worker: ${message}`, severity: 'ERROR' };
}

export function fromWire(error: WireError): VectorgateError {
  return new VectorgateError(error.code, error.message, { detail: error.detail, hint: error.hint, severity: error.severity });
}

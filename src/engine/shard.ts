// One shard's state machine: rows (id ↔ slot, vectors, payloads), the vector index keyed by slot, and
// the payload index. It changes only through apply(), one log record at a time in sequence order,
// exactly once: a record at or below lastApplied is skipped (replay after a snapshot), a gap is a bug.
// A record's rows are stored at once; building their index entries is a separate, bounded step
// (indexPending), like a growing segment that searches score exactly until it is indexed. So whoever
// hosts the shard decides how long one step may block its thread, and a replay indexes in one batch.
//
// Payload store: parsed payloads live in memory beside the vectors, and the shard's durable state is
// its log plus snapshot files, not lmdb. Reasons: (1) the log is already the source of truth, and an
// lmdb store would be a second durable copy with its own commit point that recovery has to reconcile
// with the index snapshot (or pay a second fsync per batch); (2) filters run the predicate on every
// candidate and lmdb would have to decode each payload on every search; (3) payloads are bounded by
// maxPayloadBytes and a shard's rows already hold their float32 vectors in memory for exact search and
// get(). lmdb becomes the better choice once payloads outgrow RAM; the RowStore is the seam for that.
import { SqlState, VectorgateError } from '../errors.ts';
import type { Op } from '../storage/record-codec.ts';
import type { Payload } from './filter.ts';
import { createIndex } from './index-factory.ts';
import { PayloadIndex } from './payload-index.ts';
import { RowStore } from './rows.ts';
import { searchShard, searchShardMany, type SearchLimits, type SearchOptions, type ShardHit, type SearchTrace } from './shard-search.ts';
import { checkNonZero, checkVectors, type IndexSpec, type VectorIndex } from './vector-index.ts';

export type { ShardHit, SearchOptions } from './shard-search.ts';

export interface ShardLimits extends SearchLimits {
  maxIdBytes: number;
  maxPayloadBytes: number;
  maxBatchRows: number;
  payloadIndexMaxKeys: number;
}

export interface StoredRow { id: string; vector: Float32Array; payload: string | null }

export class Shard {
  readonly spec: IndexSpec;
  readonly limits: ShardLimits;
  readonly index: VectorIndex;
  readonly rows: RowStore;
  readonly payloads: PayloadIndex;
  #lastApplied: number;
  readonly #unindexed = new Set<number>();

  constructor(spec: IndexSpec, limits: ShardLimits, index: VectorIndex = createIndex(spec), rows = new RowStore(spec.dims), lastApplied = 0) {
    this.spec = spec;
    this.limits = limits;
    this.index = index;
    this.rows = rows;
    this.payloads = new PayloadIndex(limits.payloadIndexMaxKeys);
    for (const slot of rows.slots()) {
      const payload = rows.payloadAt(slot);
      if (payload !== null) this.payloads.add(slot, payload);
    }
    this.#lastApplied = lastApplied;
  }

  get lastApplied(): number { return this.#lastApplied; }
  get count(): number { return this.rows.count; }
  /** UTF-8 bytes of the stored payloads' JSON texts (what get() returns and a snapshot holds). */
  get payloadBytes(): number { return this.rows.payloadBytes; }

  /** Rejects a write that must never reach the log: bad vectors, ids, payloads, batch size. */
  checkWrite(ops: readonly Op[]): void {
    if (ops.length > this.limits.maxBatchRows) tooBig(`a batch of ${ops.length} rows exceeds the limit of ${this.limits.maxBatchRows}`);
    for (const op of ops) {
      checkId(op.id, this.limits.maxIdBytes);
      if (op.op === 'delete') continue;
      checkVectors(op.vector, this.spec.dims, 1);
      if (this.spec.metric === 'cosine') checkNonZero(op.vector, this.spec.dims);
      if (op.payload !== null) parsePayload(op.payload, this.limits.maxPayloadBytes);
    }
  }

  /**
   * Applies one log record; returns false when it was applied before. Its rows are stored at once and
   * join the vector index at the next indexPending(): until then searches score them exactly.
   */
  apply(seq: number, ops: readonly Op[]): boolean {
    if (seq <= this.#lastApplied) return false;
    if (seq !== this.#lastApplied + 1) throw new Error(`record ${seq} after ${this.#lastApplied}: the log skipped records`);
    for (const op of ops) {
      const slot = this.rows.slotOf(op.id);
      if (slot !== undefined) this.#unlink(slot);
      if (op.op === 'delete') {
        if (slot !== undefined) this.rows.remove(slot);
        continue;
      }
      const payload = op.payload === null ? null : parsePayload(op.payload, Infinity);
      const bytes = storedPayloadBytes(payload);
      let at = slot;
      if (at === undefined) at = this.rows.insert(op.id, op.vector, payload, bytes);
      else this.rows.overwrite(at, op.vector, payload, bytes);
      if (payload !== null) this.payloads.add(at, payload);
      this.#unindexed.add(at);
    }
    this.#lastApplied = seq;
    return true;
  }

  /** Stored rows not in the vector index yet, oldest first. */
  get unindexed(): ReadonlySet<number> { return this.#unindexed; }

  /**
   * Adds up to maxRows of the unindexed rows to the vector index in one (multi-threaded) batch and
   * returns how many are left: the caller decides how much index building one step may block for.
   */
  indexPending(maxRows = Infinity): number {
    if (this.#unindexed.size === 0) return 0;
    const count = Math.min(maxRows, this.#unindexed.size);
    const slots = new Array<number>(count);
    const flat = new Float32Array(count * this.spec.dims);
    let i = 0;
    for (const slot of this.#unindexed) {
      if (i === count) break;
      slots[i] = slot;
      flat.set(this.rows.vectorAt(slot), i * this.spec.dims);
      i++;
    }
    this.index.add(slots, flat);
    for (const slot of slots) this.#unindexed.delete(slot);
    return this.#unindexed.size;
  }

  search(query: Float32Array, k: number, options: SearchOptions = {}, trace: SearchTrace | null = null): ShardHit[] {
    return searchShard(this, query, k, options, trace);
  }

  /** search() of several queries with the same k and options, their HNSW walks in one call (searchShardMany). */
  searchMany(queries: readonly Float32Array[], k: number, options: SearchOptions = {}): (ShardHit[] | Error)[] {
    return searchShardMany(this, queries, k, options);
  }

  get(id: string): StoredRow | null {
    const slot = this.rows.slotOf(id);
    if (slot === undefined) return null;
    const payload = this.rows.payloadAt(slot);
    return { id, vector: Float32Array.from(this.rows.vectorAt(slot)), payload: payload === null ? null : JSON.stringify(payload) };
  }

  /** Removes a row from the indexes, keeping its slot and id. */
  #unlink(slot: number): void {
    if (!this.#unindexed.delete(slot) && !this.index.remove(slot)) throw new Error(`slot ${slot} was not in the vector index`);
    const payload = this.rows.payloadAt(slot);
    if (payload !== null) this.payloads.remove(slot, payload);
  }
}

/**
 * The stored text is the payload re-serialised (as get() and snapshots write it), not the client's
 * text, so that the total is the same after a replay and after a snapshot restore.
 */
function storedPayloadBytes(payload: Payload | null): number {
  return payload === null ? 0 : Buffer.byteLength(JSON.stringify(payload));
}

function tooBig(message: string): never {
  throw new VectorgateError(SqlState.ProgramLimitExceeded, message);
}

/**
 * An id is text as PostgreSQL's text is: no NUL, which text cannot hold (a stored one could never be
 * sent back in a statement). 22021 with PostgreSQL's own message for a NUL in text input.
 * https://www.postgresql.org/docs/current/datatype-character.html
 */
export function checkId(id: unknown, maxBytes: number): void {
  if (typeof id !== 'string' || id.length === 0) throw new VectorgateError(SqlState.InvalidParameterValue, 'id must be a non-empty string');
  if (id.includes('\0')) throw new VectorgateError(SqlState.CharacterNotInRepertoire, 'invalid byte sequence for encoding "UTF8": 0x00', { detail: 'An id cannot contain NUL.' });
  if (Buffer.byteLength(id) > maxBytes) tooBig(`id is longer than ${maxBytes} bytes`);
}

export function parsePayload(text: string, maxBytes: number): Payload {
  if (Buffer.byteLength(text) > maxBytes) tooBig(`payload is larger than ${maxBytes} bytes`);
  let value: unknown;
  try { value = JSON.parse(text); } catch { throw new VectorgateError(SqlState.InvalidTextRepresentation, 'payload is not valid JSON'); }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new VectorgateError(SqlState.InvalidParameterValue, 'payload must be a JSON object');
  }
  return value as Payload;
}

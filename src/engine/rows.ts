// A shard's rows by slot: id, original float32 vector (exact, for get() and exact search), its norm
// (computed once on write; cosine re-scoring divides by it), the parsed payload and the UTF-8 length of
// its stored JSON text (kept per slot so that a replace or delete subtracts it from the running total
// quotas read, without a scan). The slot is also the row's label in the vector index. Freed slots are
// reused so the arena stays as large as the shard's peak row count.
import type { Payload } from './filter.ts';
import { norm } from './vector-math.ts';

const INITIAL_SLOTS = 1024;

export class RowStore {
  readonly dims: number;
  #vectors: Float32Array;
  #norms: Float32Array;
  #payloadBytes: Uint32Array;
  #payloadBytesTotal = 0;
  readonly #ids: (string | undefined)[] = [];
  readonly #payloads: (Payload | null)[] = [];
  readonly #slotOf = new Map<string, number>();
  readonly #free: number[] = [];

  constructor(dims: number) {
    this.dims = dims;
    this.#vectors = new Float32Array(INITIAL_SLOTS * dims);
    this.#norms = new Float32Array(INITIAL_SLOTS);
    this.#payloadBytes = new Uint32Array(INITIAL_SLOTS);
  }

  get count(): number { return this.#slotOf.size; }
  /** UTF-8 bytes of every stored payload's JSON text. */
  get payloadBytes(): number { return this.#payloadBytesTotal; }
  /** One past the highest slot ever used. */
  get slotLimit(): number { return this.#ids.length; }
  /** The arena itself, for distance loops: row `slot` starts at slot × dims. */
  get vectors(): Float32Array { return this.#vectors; }

  slotOf(id: string): number | undefined { return this.#slotOf.get(id); }
  idAt(slot: number): string | undefined { return this.#ids[slot]; }
  payloadAt(slot: number): Payload | null { return this.#payloads[slot] ?? null; }
  normAt(slot: number): number { return this.#norms[slot]!; }
  vectorAt(slot: number): Float32Array { return this.#vectors.subarray(slot * this.dims, (slot + 1) * this.dims); }

  /**
   * Stores a new row in a free slot (or `slot`, when restoring) and returns the slot; payloadBytes is
   * the UTF-8 length of the payload's stored JSON text (0 for none).
   */
  insert(id: string, vector: Float32Array, payload: Payload | null, payloadBytes: number, slot?: number): number {
    if (this.#slotOf.has(id)) throw new Error(`row ${id} already stored`);
    const at = slot ?? this.#free.pop() ?? this.#ids.length;
    if (this.#ids[at] !== undefined) throw new Error(`slot ${at} is in use`);
    this.#reserve(at + 1);
    while (this.#ids.length <= at) { this.#ids.push(undefined); this.#payloads.push(null); }
    this.#ids[at] = id;
    this.#slotOf.set(id, at);
    this.overwrite(at, vector, payload, payloadBytes);
    return at;
  }

  overwrite(slot: number, vector: Float32Array, payload: Payload | null, payloadBytes: number): void {
    if (vector.length !== this.dims) throw new Error(`vector of ${vector.length} values in a ${this.dims}-dimension shard`);
    this.#vectors.set(vector, slot * this.dims);
    this.#norms[slot] = norm(this.#vectors, slot * this.dims, this.dims);
    this.#payloads[slot] = payload;
    this.#payloadBytesTotal += payloadBytes - this.#payloadBytes[slot]!;
    this.#payloadBytes[slot] = payloadBytes;
  }

  remove(slot: number): void {
    const id = this.#ids[slot];
    if (id === undefined) throw new Error(`slot ${slot} is empty`);
    this.#slotOf.delete(id);
    this.#ids[slot] = undefined;
    this.#payloads[slot] = null;
    this.#payloadBytesTotal -= this.#payloadBytes[slot]!;
    this.#payloadBytes[slot] = 0;
    this.#free.push(slot);
  }

  /** After a restore that placed rows at fixed slots: every gap becomes a free slot. */
  collectFreeSlots(): void {
    this.#free.length = 0;
    for (let slot = this.#ids.length - 1; slot >= 0; slot--) if (this.#ids[slot] === undefined) this.#free.push(slot);
  }

  *slots(): Generator<number> {
    for (let slot = 0; slot < this.#ids.length; slot++) if (this.#ids[slot] !== undefined) yield slot;
  }

  #reserve(slots: number): void {
    const capacity = this.#norms.length;
    if (slots <= capacity) return;
    const next = Math.max(slots, capacity * 2);
    const vectors = new Float32Array(next * this.dims);
    vectors.set(this.#vectors);
    this.#vectors = vectors;
    const norms = new Float32Array(next);
    norms.set(this.#norms);
    this.#norms = norms;
    const payloadBytes = new Uint32Array(next);
    payloadBytes.set(this.#payloadBytes);
    this.#payloadBytes = payloadBytes;
  }
}

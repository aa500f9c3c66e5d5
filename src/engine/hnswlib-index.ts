// hnswlib-node adapter. hnswlib labels are uint32 (wider values are silently truncated), so this
// adapter maps the shard's labels to its own internal uint32 labels. Internal labels are handed out
// monotonically and never reused: hnswlib's replace-deleted path re-labels a deleted slot and erases the
// slot's old label from its lookup, which would drop a live point if that old label had been reused.
// The map is saved beside the index file (`<path>.labels`).
// hnswlib-node is an optional dependency (node-gyp compiles it, which needs a C++ toolchain), so it is
// loaded on first use: a collection on the default engine, usearch, never needs it.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { SqlState, VectorgateError } from '../errors.ts';
import { checkNonZero, checkSearchArgs, checkVectors, toLabel, type IndexSpec, type Label, type SearchHits, type VectorIndex } from './vector-index.ts';
import { normalizedCopy } from './vector-math.ts';

/**
 * The part of hnswlib-node's HierarchicalNSW (lib/index.d.ts) this adapter uses, declared here so that
 * type-checking and `npm run build` do not need the optional package installed.
 */
interface NativeIndex {
  initIndex(options: { maxElements: number; m: number; efConstruction: number; randomSeed: number; allowReplaceDeleted: boolean }): void;
  readIndexSync(path: string, allowReplaceDeleted: boolean): void;
  writeIndexSync(path: string): void;
  resizeIndex(maxElements: number): void;
  addPoint(point: number[], label: number, replaceDeleted: boolean): void;
  markDelete(label: number): void;
  setEf(ef: number): void;
  searchKnn(query: number[], k: number): { distances: number[]; neighbors: number[] };
  getMaxElements(): number;
  getCurrentCount(): number;
}
type NativeIndexClass = new (space: 'l2' | 'ip', dims: number) => NativeIndex;

const HNSWLIB_PACKAGE = 'hnswlib-node';
let loadedClass: NativeIndexClass | null = null;

const INITIAL_CAPACITY = 1024;
const MAX_INTERNAL_LABEL = 0xffff_ffff;

export class HnswlibIndex implements VectorIndex {
  readonly spec: IndexSpec;
  readonly #native: NativeIndex;
  readonly #toInternal = new Map<number, number>();
  readonly #toExternal = new Map<number, number>();
  #nextInternal = 0;

  private constructor(spec: IndexSpec, native: NativeIndex) {
    this.spec = spec;
    this.#native = native;
  }

  static create(spec: IndexSpec): HnswlibIndex {
    const native = new (hnswlibClass())(spec.metric === 'l2' ? 'l2' : 'ip', spec.dims);
    native.initIndex({ maxElements: INITIAL_CAPACITY, m: spec.m, efConstruction: spec.efConstruction, randomSeed: 100, allowReplaceDeleted: true });
    return new HnswlibIndex(spec, native);
  }

  static load(spec: IndexSpec, path: string): HnswlibIndex {
    const native = new (hnswlibClass())(spec.metric === 'l2' ? 'l2' : 'ip', spec.dims);
    native.readIndexSync(path, true);
    const index = new HnswlibIndex(spec, native);
    index.#readLabels(readFileSync(`${path}.labels`));
    return index;
  }

  add(labels: readonly Label[], vectors: Float32Array): void {
    checkVectors(vectors, this.spec.dims, labels.length);
    const external = labels.map(toLabel);
    for (const label of external) {
      if (this.#toInternal.has(label)) throw new Error(`label ${label} is already in the index`);
    }
    if (new Set(external).size !== external.length) throw new Error('duplicate labels in one batch');
    let rows = vectors;
    if (this.spec.metric === 'cosine') {
      checkNonZero(vectors, this.spec.dims);
      rows = normalizedCopy(vectors, this.spec.dims);
    }
    this.#reserve(external.length);
    const dims = this.spec.dims;
    for (let i = 0; i < external.length; i++) {
      if (this.#nextInternal > MAX_INTERNAL_LABEL) throw new Error('hnswlib internal labels exhausted');
      const internal = this.#nextInternal++;
      this.#native.addPoint(Array.from(rows.subarray(i * dims, (i + 1) * dims)), internal, true);
      this.#toInternal.set(external[i]!, internal);
      this.#toExternal.set(internal, external[i]!);
    }
  }

  remove(label: Label): boolean {
    const external = toLabel(label);
    const internal = this.#toInternal.get(external);
    if (internal === undefined) return false;
    this.#native.markDelete(internal);
    this.#toInternal.delete(external);
    this.#toExternal.delete(internal);
    return true;
  }

  search(query: Float32Array, k: number, ef: number): SearchHits {
    checkSearchArgs(this.spec, query, k, ef);
    const live = this.#toInternal.size;
    if (live === 0) return { labels: [], distances: new Float32Array(0) };
    const want = Math.min(k, live);
    const q = this.spec.metric === 'cosine' ? normalizedCopy(query, this.spec.dims) : query;
    this.#native.setEf(Math.max(ef, want));
    const result = this.#native.searchKnn(Array.from(q), want);
    const order = result.distances.map((_, i) => i).sort((a, b) => result.distances[a]! - result.distances[b]!);
    const labels = order.map((i) => this.#externalOf(result.neighbors[i]!));
    return { labels, distances: Float32Array.from(order, (i) => result.distances[i]!) };
  }

  /** hnswlib-node has no batch search: one search per query. */
  searchMany(queries: readonly Float32Array[], k: number, ef: number): number[][] {
    return queries.map((query) => this.search(query, k, ef).labels);
  }

  size(): number {
    return this.#toInternal.size;
  }

  /** Estimate from hnswlib's layout: level-0 links (2m × u32 + count), vector, label, per allocated slot. */
  memoryBytes(): number {
    const perSlot = this.spec.dims * 4 + (2 * this.spec.m + 1) * 4 + 8 + 16;
    return this.#native.getMaxElements() * perSlot + this.#toInternal.size * 32;
  }

  save(path: string): void {
    this.#native.writeIndexSync(path);
    writeFileSync(`${path}.labels`, this.#encodeLabels());
  }

  #reserve(extra: number): void {
    const needed = this.#native.getCurrentCount() + extra;
    const capacity = this.#native.getMaxElements();
    if (needed > capacity) this.#native.resizeIndex(Math.max(needed, capacity * 2));
  }

  #externalOf(internal: number): number {
    const external = this.#toExternal.get(internal);
    if (external === undefined) throw new Error(`hnswlib returned unknown internal label ${internal}`);
    return external;
  }

  #encodeLabels(): Buffer {
    const buf = Buffer.alloc(8 + this.#toInternal.size * 12);
    buf.writeUInt32LE(this.#nextInternal, 0);
    buf.writeUInt32LE(this.#toInternal.size, 4);
    let offset = 8;
    for (const [external, internal] of this.#toInternal) {
      buf.writeDoubleLE(external, offset);
      buf.writeUInt32LE(internal, offset + 8);
      offset += 12;
    }
    return buf;
  }

  #readLabels(buf: Buffer): void {
    this.#nextInternal = buf.readUInt32LE(0);
    const count = buf.readUInt32LE(4);
    if (buf.length !== 8 + count * 12) throw new Error('hnswlib label map file has the wrong length');
    for (let i = 0, offset = 8; i < count; i++, offset += 12) {
      const external = buf.readDoubleLE(offset);
      const internal = buf.readUInt32LE(offset + 8);
      this.#toInternal.set(external, internal);
      this.#toExternal.set(internal, external);
    }
  }
}

/**
 * The native class, loaded on first use. The index API is synchronous (a shard builds its index in its
 * constructor), and hnswlib-node is a CommonJS package, so a synchronous require loads it on demand
 * without making every caller async. 0A000, as PostgreSQL answers for a feature its build lacks
 * (e.g. "compression method lz4 not supported": https://www.postgresql.org/docs/current/errcodes-appendix.html).
 */
export function hnswlibClass(): NativeIndexClass {
  if (loadedClass !== null) return loadedClass;
  try {
    const loaded = createRequire(import.meta.url)(HNSWLIB_PACKAGE) as { HierarchicalNSW: NativeIndexClass };
    loadedClass = loaded.HierarchicalNSW;
    return loadedClass;
  } catch (cause) {
    throw new VectorgateError(SqlState.FeatureNotSupported, `engine "hnswlib" needs the optional package ${HNSWLIB_PACKAGE}, which is not installed`, {
      detail: cause instanceof Error ? cause.message.split('\n')[0] : String(cause),
      hint: `Install it with "npm install ${HNSWLIB_PACKAGE}" (it compiles with node-gyp: needs a C++ toolchain), or use engine => 'usearch'.`,
      cause,
    });
  }
}

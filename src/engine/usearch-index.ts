// usearch adapter (the default engine). usearch fixes `expansion_search` per Index object and its Node
// API cannot change it, but its search uses max(expansion_search, wanted) as the candidate list. So the
// index is built with expansion_search = 1 and a search for k at ef asks for max(k, ef) results and keeps
// the first k: the same graph walk as an index built with that ef (measured in test/engine), at the cost
// of copying ef instead of k results out of the addon.
//
// Quantization maps to usearch scalar kinds: f16 → F16, int8 → I8 (with usearch's cosine metric, which
// divides by the int8 norms: better ranked than inner product over rounded values), binary → B1 with
// Hamming. usearch's f32 → b1 cast clears only dims/8 whole bytes of its reused buffer, so the bits of
// a last partial byte pile up from earlier vectors (measured: two 12-dim vectors differing in bits
// 8..11 came out equal); binary indexes are therefore built with dims rounded up to a multiple of 8
// and rows padded with zeros, which become 0 bits in every vector and never count in a distance.
import { createRequire } from 'node:module';
import type * as UsearchModule from 'usearch';
import { checkNonZero, checkSearchArgs, checkVectors, toLabel, type IndexSpec, type Label, type SearchHits, type VectorIndex } from './vector-index.ts';
import { normalizedCopy } from './vector-math.ts';

// The CommonJS build, on purpose: usearch's ESM build locates its addon by walking up from a stack
// frame's file URL, which never finishes inside a worker_thread (the import hangs, no error).
const usearch = createRequire(import.meta.url)('usearch') as typeof UsearchModule;
const { Index, MetricKind, ScalarKind } = usearch;
type NativeIndex = InstanceType<typeof Index>;

/** Batches at least this large use all cores; smaller ones are not worth the thread start-up. */
const PARALLEL_ADD_MIN_ROWS = 64;

export class UsearchIndex implements VectorIndex {
  readonly spec: IndexSpec;
  #native: NativeIndex;
  /** Set while the index is a read-only mmap view of this file; the first write loads it into memory. */
  #viewedPath: string | null = null;

  private constructor(spec: IndexSpec, native: NativeIndex) {
    this.spec = spec;
    this.#native = native;
  }

  static create(spec: IndexSpec): UsearchIndex {
    return new UsearchIndex(spec, newNative(spec));
  }

  static load(spec: IndexSpec, path: string, mmap: boolean): UsearchIndex {
    const native = newNative(spec);
    if (mmap) native.view(path); else native.load(path);
    if (native.dimensions() !== nativeDims(spec)) {
      throw new Error(`index file ${path} has ${native.dimensions()} dimensions, expected ${nativeDims(spec)}`);
    }
    const index = new UsearchIndex(spec, native);
    if (mmap) index.#viewedPath = path;
    return index;
  }

  add(labels: readonly Label[], vectors: Float32Array): void {
    checkVectors(vectors, this.spec.dims, labels.length);
    if (labels.length === 0) return;
    const keys = BigUint64Array.from(labels, (label) => BigInt(toLabel(label)));
    let rows = vectors;
    if (this.spec.metric === 'cosine') {
      checkNonZero(vectors, this.spec.dims);
      rows = normalizedCopy(vectors, this.spec.dims);
    }
    const native = this.#writable();
    native.add(keys, padded(this.spec, rows), addThreads(native, labels.length));
  }

  remove(label: Label): boolean {
    const removed = this.#writable().remove(BigInt(toLabel(label)));
    return Number(removed) > 0;
  }

  search(query: Float32Array, k: number, ef: number): SearchHits {
    checkSearchArgs(this.spec, query, k, ef);
    if (this.#native.size() === 0) return { labels: [], distances: new Float32Array(0) };
    const q = this.spec.metric === 'cosine' ? normalizedCopy(query, this.spec.dims) : query;
    const matches = this.#native.search(padded(this.spec, q), Math.max(k, ef), 1);
    const count = Math.min(k, matches.keys.length);
    const labels = new Array<number>(count);
    for (let i = 0; i < count; i++) labels[i] = Number(matches.keys[i]);
    return { labels, distances: matches.distances.slice(0, count) };
  }

  /** One native call over every query on every core (usearch's batch search). */
  searchMany(queries: readonly Float32Array[], k: number, ef: number): number[][] {
    // The addon answers a single query with plain matches, not a batch.
    if (queries.length === 1) return [this.search(queries[0]!, k, ef).labels];
    for (const query of queries) checkSearchArgs(this.spec, query, k, ef);
    if (this.#native.size() === 0 || queries.length === 0) return queries.map(() => []);
    const normalize = this.spec.metric === 'cosine' ? normalizedCopy : (v: Float32Array) => v;
    const width = padded(this.spec, queries[0]!).length;
    const flat = new Float32Array(queries.length * width);
    queries.forEach((query, i) => flat.set(padded(this.spec, normalize(query, this.spec.dims)), i * width));
    const wanted = Math.max(k, ef);
    const batch = this.#native.search(flat, wanted, 0) as unknown as { keys: BigUint64Array; counts: BigUint64Array };
    return queries.map((_, i) => {
      const count = Math.min(k, Number(batch.counts[i]));
      return Array.from({ length: count }, (_, j) => Number(batch.keys[i * wanted + j]));
    });
  }

  size(): number {
    return this.#native.size();
  }

  /** Estimate: stored vector bytes + level-0 links (2m × u32) + key and slot bookkeeping per row. */
  memoryBytes(): number {
    const perRow = vectorBytes(this.spec) + 2 * this.spec.m * 4 + 24;
    return this.#native.capacity() * perRow;
  }

  save(path: string): void {
    this.#native.save(path);
  }

  #writable(): NativeIndex {
    if (this.#viewedPath !== null) {
      const native = newNative(this.spec);
      native.load(this.#viewedPath);
      this.#native = native;
      this.#viewedPath = null;
    }
    return this.#native;
  }
}

/**
 * 0 (every core) or 1. The addon grows the index (when size + rows reach its capacity) with contexts
 * for exactly the threads of that add, and a later add on more threads fails ("Reserve capacity ahead
 * of insertions!") until the next growth: so an add that grows the index always asks for every core.
 */
function addThreads(native: NativeIndex, rows: number): number {
  if (rows >= PARALLEL_ADD_MIN_ROWS) return 0;
  return native.size() + rows >= native.capacity() ? 0 : 1;
}

/** Bytes one stored vector takes in the index: 4, 2 or 1 per dimension, or one bit (padded to whole bytes). */
export function vectorBytes(spec: IndexSpec): number {
  switch (spec.quantization) {
    case 'none': return 4 * spec.dims;
    case 'f16': return 2 * spec.dims;
    case 'int8': return spec.dims;
    case 'binary': return nativeDims(spec) / 8;
  }
}

function nativeDims(spec: IndexSpec): number {
  return spec.quantization === 'binary' ? Math.ceil(spec.dims / 8) * 8 : spec.dims;
}

/** The rows with zeros appended up to nativeDims (binary only; otherwise the rows themselves). */
function padded(spec: IndexSpec, rows: Float32Array): Float32Array {
  const to = nativeDims(spec);
  if (to === spec.dims) return rows;
  const count = rows.length / spec.dims;
  const out = new Float32Array(count * to);
  for (let i = 0; i < count; i++) out.set(rows.subarray(i * spec.dims, (i + 1) * spec.dims), i * to);
  return out;
}

const METRIC_KINDS = { none: null, f16: null, int8: MetricKind.Cos, binary: MetricKind.Hamming } as const;
const SCALAR_KINDS = { none: ScalarKind.F32, f16: ScalarKind.F16, int8: ScalarKind.I8, binary: ScalarKind.B1 } as const;

function newNative(spec: IndexSpec): NativeIndex {
  return new Index({
    dimensions: nativeDims(spec),
    metric: METRIC_KINDS[spec.quantization] ?? (spec.metric === 'l2' ? MetricKind.L2sq : MetricKind.IP),
    quantization: SCALAR_KINDS[spec.quantization],
    connectivity: spec.m,
    expansion_add: spec.efConstruction,
    expansion_search: 1,
    multi: false,
  });
}

// usearch adapter (the default engine). usearch fixes `expansion_search` per Index object and its Node
// API cannot change it, but its search uses max(expansion_search, wanted) as the candidate list. So the
// index is built with expansion_search = 1 and a search for k at ef asks for max(k, ef) results and keeps
// the first k: the same graph walk as an index built with that ef (measured in test/engine), at the cost
// of copying ef instead of k results out of the addon.
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
    if (native.dimensions() !== spec.dims) {
      throw new Error(`index file ${path} has ${native.dimensions()} dimensions, expected ${spec.dims}`);
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
    native.add(keys, rows, addThreads(native, labels.length));
  }

  remove(label: Label): boolean {
    const removed = this.#writable().remove(BigInt(toLabel(label)));
    return Number(removed) > 0;
  }

  search(query: Float32Array, k: number, ef: number): SearchHits {
    checkSearchArgs(this.spec, query, k, ef);
    if (this.#native.size() === 0) return { labels: [], distances: new Float32Array(0) };
    const q = this.spec.metric === 'cosine' ? normalizedCopy(query, this.spec.dims) : query;
    const matches = this.#native.search(q, Math.max(k, ef), 1);
    const count = Math.min(k, matches.keys.length);
    const labels = new Array<number>(count);
    for (let i = 0; i < count; i++) labels[i] = Number(matches.keys[i]);
    return { labels, distances: matches.distances.slice(0, count) };
  }

  size(): number {
    return this.#native.size();
  }

  /** Estimate: stored scalars + level-0 links (2m × u32) + key and slot bookkeeping per row. */
  memoryBytes(): number {
    const scalarBytes = this.spec.quantization === 'f16' ? 2 : 4;
    const perRow = this.spec.dims * scalarBytes + 2 * this.spec.m * 4 + 24;
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

function newNative(spec: IndexSpec): NativeIndex {
  return new Index({
    dimensions: spec.dims,
    metric: spec.metric === 'l2' ? MetricKind.L2sq : MetricKind.IP,
    quantization: spec.quantization === 'f16' ? ScalarKind.F16 : ScalarKind.F32,
    connectivity: spec.m,
    expansion_add: spec.efConstruction,
    expansion_search: 1,
    multi: false,
  });
}

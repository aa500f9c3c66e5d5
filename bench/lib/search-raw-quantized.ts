// The raw engine for int8 and binary: usearch itself (ScalarKind.I8 with the cosine metric; B1 with
// Hamming over the signs), since the shards' adapter takes only f32/f16 until quantized collections
// land. Like a collection with rescoring, a search asks the index for ceil(k × oversample) candidates
// at ef max(ef, candidates) and returns the k nearest of them by exact cosine over the float32 rows,
// so the raw numbers stay comparable with vectorgate's. Cosine only, as for the collections.
import { createRequire } from 'node:module';
import type * as UsearchModule from 'usearch';
import type { Dataset } from './search-data.ts';
import { inverseNorms } from './search-truth-scan.ts';
import { savedBytes, type RawIndex } from './search-raw.ts';

// The CommonJS build, as src/engine/usearch-index.ts loads it.
const usearch = createRequire(import.meta.url)('usearch') as typeof UsearchModule;

/** Rows per add() call: each batch is copied (padded for binary) into a fresh array first. */
const ADD_BATCH_ROWS = 16_384;

export function buildQuantizedRaw(data: Dataset, kind: 'int8' | 'binary', m: number, efConstruction: number, oversample: number): RawIndex {
  if (data.metric !== 'cosine') throw new Error(`the raw ${kind} target needs metric cosine (usearch's ${kind} is unsound for ${data.metric})`);
  // B1 packs 8 dimensions a byte; zero padding sets no bit, so it changes no Hamming distance.
  const dims = kind === 'binary' ? Math.ceil(data.dims / 8) * 8 : data.dims;
  const native = new usearch.Index({
    dimensions: dims,
    metric: kind === 'binary' ? usearch.MetricKind.Hamming : usearch.MetricKind.Cos,
    quantization: kind === 'binary' ? usearch.ScalarKind.B1 : usearch.ScalarKind.I8,
    connectivity: m, expansion_add: efConstruction, expansion_search: 1, multi: false,
  });
  const padded = (source: Float32Array, rows: number, first: number): Float32Array => {
    const out = new Float32Array(rows * dims);
    for (let r = 0; r < rows; r++) out.set(source.subarray((first + r) * data.dims, (first + r + 1) * data.dims), r * dims);
    return out;
  };
  const started = performance.now();
  for (let first = 0; first < data.baseRows; first += ADD_BATCH_ROWS) {
    const rows = Math.min(ADD_BATCH_ROWS, data.baseRows - first);
    native.add(BigUint64Array.from({ length: rows }, (_, i) => BigInt(first + i)), padded(data.base, rows, first), 0);
  }
  const buildSeconds = (performance.now() - started) / 1000;
  const norms = inverseNorms(data.base, data.baseRows, data.dims);
  const search = (query: Float32Array, k: number, ef: number): number[] => {
    const candidates = Math.ceil(k * oversample);
    const found = native.search(padded(query, 1, 0), Math.max(candidates, ef), 1);
    const labels = Array.from(found.keys.subarray(0, candidates), Number);
    return rescore(data, norms, query, labels).slice(0, k);
  };
  const scalarBytes = kind === 'binary' ? dims / 8 : dims;
  return {
    kind, buildSeconds, search, oversample, rescoreBytesPerVector: data.dims * 4,
    // As the adapter's estimate: stored scalars + level-0 links (2m × u32) + key and slot bookkeeping.
    memoryBytesPerVector: (native.capacity() * (scalarBytes + 2 * m * 4 + 24)) / data.baseRows,
    fileBytesPerVector: savedBytes((path) => native.save(path)) / data.baseRows,
  };
}

/** The candidates in exact cosine order (ties by the smaller id). */
function rescore(data: Dataset, norms: Float64Array, query: Float32Array, labels: number[]): number[] {
  const scored = labels.map((id) => {
    let dot = 0;
    const off = id * data.dims;
    for (let j = 0; j < data.dims; j++) dot += query[j]! * data.base[off + j]!;
    return { id, score: -dot * norms[id]! };
  });
  scored.sort((a, b) => a.score - b.score || a.id - b.id);
  return scored.map((s) => s.id);
}

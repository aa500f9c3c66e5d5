// The exact top-k kernel behind the benchmark's ground truth: one pass over a range of base rows for
// every query, in plain Float32Array loops with float64 sums. Run inline for small inputs and in
// worker_threads (search-truth-worker.ts) over ranges of a SharedArrayBuffer for large ones.
import type { Metric } from '../../src/engine/vector-math.ts';

export interface ScanInput {
  base: Float32Array;
  /** 1 / norm of every base row, for cosine (queries need none: it does not change their order). */
  inverseNorms: Float64Array | null;
  queries: Float32Array;
  queryRows: number;
  dims: number;
  metric: Metric;
  k: number;
}

/** Per query, the k best (smallest score) rows of [from, to): ids and scores, best first. */
export interface ScanResult { ids: Int32Array; scores: Float64Array }

/** Rows are taken in blocks small enough to stay in the L2 cache while every query passes over them. */
const BLOCK_ROWS = 256;

export function scanRange(input: ScanInput, from: number, to: number): ScanResult {
  const { base, inverseNorms, queries, queryRows, dims, metric, k } = input;
  const ids = new Int32Array(queryRows * k).fill(-1);
  const scores = new Float64Array(queryRows * k).fill(Infinity);
  for (let start = from; start < to; start += BLOCK_ROWS) {
    const end = Math.min(start + BLOCK_ROWS, to);
    for (let q = 0; q < queryRows; q++) {
      const qOff = q * dims;
      const top = q * k;
      for (let i = start; i < end; i++) {
        const off = i * dims;
        let s = 0;
        if (metric === 'l2') {
          for (let j = 0; j < dims; j++) { const d = queries[qOff + j]! - base[off + j]!; s += d * d; }
        } else {
          for (let j = 0; j < dims; j++) s -= queries[qOff + j]! * base[off + j]!;
          if (inverseNorms) s *= inverseNorms[i]!;
        }
        // Strictly better than the worst kept: among equal scores the smaller id (seen first) stays.
        if (s < scores[top + k - 1]!) insert(ids, scores, top, k, i, s);
      }
    }
  }
  return { ids, scores };
}

function insert(ids: Int32Array, scores: Float64Array, top: number, k: number, id: number, score: number): void {
  let at = top + k - 1;
  while (at > top && scores[at - 1]! > score) {
    scores[at] = scores[at - 1]!;
    ids[at] = ids[at - 1]!;
    at--;
  }
  scores[at] = score;
  ids[at] = id;
}

/** Merges the per-range results (ranges in id order) into one top-k per query, ties by the smaller id. */
export function mergeScans(parts: ScanResult[], queryRows: number, k: number): Int32Array[] {
  const out: Int32Array[] = [];
  for (let q = 0; q < queryRows; q++) {
    const candidates: { id: number; score: number }[] = [];
    for (const p of parts) {
      for (let i = q * k; i < (q + 1) * k; i++) if (p.ids[i]! >= 0) candidates.push({ id: p.ids[i]!, score: p.scores[i]! });
    }
    candidates.sort((a, b) => a.score - b.score || a.id - b.id);
    out.push(Int32Array.from(candidates.slice(0, k), (c) => c.id));
  }
  return out;
}

export function inverseNorms(base: Float32Array, rows: number, dims: number): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = i * dims; j < (i + 1) * dims; j++) s += base[j]! * base[j]!;
    out[i] = 1 / Math.sqrt(s);
  }
  return out;
}

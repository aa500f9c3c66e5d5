// The benchmark's data: base and query vectors from ../shared/data/<dataset>, the ground truth (the
// file's when the whole base is used, exact brute force over the subset with --limit), and recall@k.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readVecs } from '../../src/cli/fvecs.ts';
import type { Metric } from '../../src/engine/vector-math.ts';

export const DATA_ROOT = join(import.meta.dirname, '..', '..', '..', 'shared', 'data');

export interface Dataset {
  name: string;
  metric: Metric;
  dims: number;
  base: Float32Array;
  baseRows: number;
  queries: Float32Array;
  queryRows: number;
  /** Ids of the true nearest k per query, nearest first. */
  truth: Int32Array[];
  truthSource: string;
}

export function row(data: Float32Array, dims: number, i: number): Float32Array {
  return data.subarray(i * dims, (i + 1) * dims);
}

export function loadDataset(name: string, metric: Metric, limit: number, queryLimit: number, k: number): Dataset {
  const dir = join(DATA_ROOT, name);
  if (!existsSync(join(dir, 'base.fvecs'))) throw new Error(`no dataset ${name} in ${DATA_ROOT}`);
  const base = readVecs(join(dir, 'base.fvecs'), 'f', limit);
  const queries = readVecs(join(dir, 'query.fvecs'), 'f', queryLimit);
  const gtFile = join(dir, metric === 'l2' ? 'gt_l2.ivecs' : 'gt_cos.ivecs');
  const full = readVecs(join(dir, 'base.fvecs'), 'f', Infinity).rows === base.rows;
  let truth: Int32Array[];
  let truthSource: string;
  if (full && metric !== 'ip' && existsSync(gtFile)) {
    const gt = readVecs(gtFile, 'i', queries.rows);
    truth = Array.from({ length: queries.rows }, (_, q) => gt.data.slice(q * gt.dims, q * gt.dims + k));
    truthSource = `${name}/${basename(gtFile)}`;
  } else {
    truth = bruteForce(base.data, base.rows, queries.data, queries.rows, base.dims, metric, k);
    truthSource = `brute force over the first ${base.rows} base vectors`;
  }
  return { name, metric, dims: base.dims, base: base.data, baseRows: base.rows, queries: queries.data, queryRows: queries.rows, truth, truthSource };
}

function normalized(data: Float32Array, dims: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let off = 0; off < data.length; off += dims) {
    let s = 0;
    for (let i = 0; i < dims; i++) s += data[off + i]! ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < dims; i++) out[off + i] = data[off + i]! * inv;
  }
  return out;
}

/** Exact top-k (ties by the smaller id, as the dataset's files order them), in float64 sums. */
export function bruteForce(base: Float32Array, n: number, queries: Float32Array, nq: number, dims: number, metric: Metric, k: number): Int32Array[] {
  const b = metric === 'cosine' ? normalized(base, dims) : base;
  const qs = metric === 'cosine' ? normalized(queries, dims) : queries;
  const scores = new Float64Array(n);
  const out: Int32Array[] = [];
  for (let q = 0; q < nq; q++) {
    const query = row(qs, dims, q);
    for (let i = 0; i < n; i++) {
      let s = 0;
      const off = i * dims;
      if (metric === 'l2') for (let j = 0; j < dims; j++) s += (query[j]! - b[off + j]!) ** 2;
      else { for (let j = 0; j < dims; j++) s -= query[j]! * b[off + j]!; }
      scores[i] = s;
    }
    out.push(topK(scores, k));
  }
  return out;
}

/** The k smallest scores' indexes, by insertion into a small sorted list (k is 10). */
function topK(scores: Float64Array, k: number): Int32Array {
  const ids: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    if (ids.length === k && scores[i]! >= scores[ids[k - 1]!]!) continue;
    let at = ids.length;
    while (at > 0 && scores[ids[at - 1]!]! > scores[i]!) at--;
    ids.splice(at, 0, i);
    if (ids.length > k) ids.pop();
  }
  return Int32Array.from(ids);
}

/** Share of the true top-k found among the first k answers, over all queries. */
export function recall(truth: Int32Array[], found: ArrayLike<number>[], k: number): number {
  let hits = 0;
  for (let q = 0; q < truth.length; q++) {
    const want = new Set(truth[q]!.subarray(0, k));
    const got = found[q]!;
    for (let i = 0; i < Math.min(k, got.length); i++) if (want.has(got[i]!)) hits++;
  }
  return hits / (truth.length * k);
}

// The benchmark's data: base and query vectors from ../shared/data/<dataset>, the ground truth (the
// file's when the whole base is used, exact brute force over the subset with --limit: search-truth.ts),
// and recall@k.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readVecs } from '../../src/cli/fvecs.ts';
import type { Metric } from '../../src/engine/vector-math.ts';
import { exactTopK } from './search-truth.ts';

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

export async function loadDataset(name: string, metric: Metric, limit: number, queryLimit: number, k: number): Promise<Dataset> {
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
    truth = await exactTopK(base.data, base.rows, queries.data, queries.rows, base.dims, metric, k);
    truthSource = `brute force over the first ${base.rows} base vectors`;
  }
  return { name, metric, dims: base.dims, base: base.data, baseRows: base.rows, queries: queries.data, queryRows: queries.rows, truth, truthSource };
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

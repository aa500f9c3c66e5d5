// Test data: readers for the TEXMEX files in ../shared/data, a seeded generator, exact ground truth
// and recall. Everything here is deterministic for a given seed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Metric } from '../../../src/engine/vector-math.ts';

export const DATA_DIR = join(import.meta.dirname, '../../../../shared/data');

export interface VectorSet { dims: number; count: number; data: Float32Array }

export function readFvecs(path: string, limit = Infinity): VectorSet {
  const buf = readFileSync(path);
  const dims = buf.readInt32LE(0);
  const rowBytes = 4 * (dims + 1);
  const count = Math.min(limit, buf.length / rowBytes);
  const data = new Float32Array(count * dims);
  for (let i = 0; i < count; i++) {
    const row = new Float32Array(buf.buffer, buf.byteOffset + i * rowBytes + 4, dims);
    data.set(row, i * dims);
  }
  return { dims, count, data };
}

export function readIvecs(path: string, limit = Infinity): Int32Array[] {
  const buf = readFileSync(path);
  const dims = buf.readInt32LE(0);
  const rowBytes = 4 * (dims + 1);
  const count = Math.min(limit, buf.length / rowBytes);
  const rows: Int32Array[] = [];
  for (let i = 0; i < count; i++) rows.push(Int32Array.from(new Int32Array(buf.buffer.slice(buf.byteOffset + i * rowBytes + 4, buf.byteOffset + (i + 1) * rowBytes))));
  return rows;
}

export function row(set: VectorSet, i: number): Float32Array {
  return set.data.subarray(i * set.dims, (i + 1) * set.dims);
}

/** The tests' one seeded generator (mulberry32), under the name the engine tests use. */
export { seeded as rng } from '../../helpers/random.ts';

export function randomVectors(random: () => number, count: number, dims: number): Float32Array {
  const out = new Float32Array(count * dims);
  for (let i = 0; i < out.length; i++) out[i] = random() * 2 - 1;
  return out;
}

function distance(metric: Metric, a: Float32Array, b: Float32Array): number {
  let dot = 0, aa = 0, bb = 0, l2 = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!; aa += a[i]! * a[i]!; bb += b[i]! * b[i]!;
    l2 += (a[i]! - b[i]!) ** 2;
  }
  if (metric === 'l2') return l2;
  if (metric === 'cosine') return 1 - dot / Math.sqrt(aa * bb);
  return -dot;
}

/** Exact top-k row numbers of `base` for each query (ties broken by the smaller row number). */
export function bruteForce(base: VectorSet, queries: VectorSet, k: number, metric: Metric, keep?: (i: number) => boolean): number[][] {
  const out: number[][] = [];
  for (let q = 0; q < queries.count; q++) {
    const query = row(queries, q);
    const scored: [number, number][] = [];
    for (let i = 0; i < base.count; i++) {
      if (keep && !keep(i)) continue;
      scored.push([distance(metric, query, row(base, i)), i]);
    }
    scored.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    out.push(scored.slice(0, k).map((s) => s[1]));
  }
  return out;
}

export function recallAt(k: number, truth: ArrayLike<number>[], found: ArrayLike<number>[]): number {
  let hits = 0;
  for (let q = 0; q < truth.length; q++) {
    const want = new Set(Array.from(truth[q]!).slice(0, k));
    for (const id of Array.from(found[q]!).slice(0, k)) if (want.has(id)) hits++;
  }
  return hits / (truth.length * k);
}

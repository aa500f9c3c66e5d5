// Exact ground truth by brute force: the base rows split over worker threads (one per core), each
// scanning its range for every query, the per-range top-k merged. Small inputs are scanned inline,
// where starting the threads (tsx in each) would cost more than the scan.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Metric } from '../../src/engine/vector-math.ts';
import { inverseNorms, mergeScans, scanRange, type ScanInput, type ScanResult } from './search-truth-scan.ts';

/** Below this many multiply-adds (rows × queries × dims) one inline scan is quicker than threads. */
const INLINE_MAX_WORK = 2e8;

export async function exactTopK(base: Float32Array, rows: number, queries: Float32Array, queryRows: number, dims: number, metric: Metric, k: number): Promise<Int32Array[]> {
  const norms = metric === 'cosine' ? inverseNorms(base, rows, dims) : null;
  const threads = Math.min(availableParallelism(), Math.ceil(rows / 10_000));
  if (rows * queryRows * dims <= INLINE_MAX_WORK || threads < 2) {
    const input: ScanInput = { base, inverseNorms: norms, queries, queryRows, dims, metric, k };
    return mergeScans([scanRange(input, 0, rows)], queryRows, k);
  }
  // Shared, so that no thread gets a copy of the base (400 MB at 1M × 100).
  const input: ScanInput = { base: shared(base), inverseNorms: norms && sharedF64(norms), queries, queryRows, dims, metric, k };
  const per = Math.ceil(rows / threads);
  const parts = await Promise.all(Array.from({ length: threads }, (_, t) => scanInWorker(input, t * per, Math.min(rows, (t + 1) * per))));
  return mergeScans(parts, queryRows, k);
}

function shared(a: Float32Array): Float32Array {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const out = new Float32Array(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
}

function sharedF64(a: Float64Array): Float64Array {
  const out = new Float64Array(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
}

function scanInWorker(input: ScanInput, from: number, to: number): Promise<ScanResult> {
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./search-truth-worker.ts', import.meta.url).href;
  const worker = new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, { eval: true, workerData: { input, from, to } });
  return new Promise((resolve, reject) => {
    worker.once('message', (result: ScanResult) => { resolve(result); void worker.terminate(); });
    worker.once('error', reject);
    worker.once('exit', (code) => { if (code !== 0) reject(new Error(`ground-truth worker exited with ${code}`)); });
  });
}

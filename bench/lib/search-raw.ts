// The raw engine in this process: the same adapter the shards use (src/engine), on the whole base in
// one index, searched from one thread — the reference the proxy's numbers are held against.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIndex } from '../../src/engine/index-factory.ts';
import type { Quantization, VectorIndex } from '../../src/engine/vector-index.ts';
import { onCleanup } from './cleanup.ts';
import { recall, row, type Dataset } from './search-data.ts';
import type { Measurement } from './search-report.ts';

export interface RawIndex {
  quantization: Quantization;
  index: VectorIndex;
  buildSeconds: number;
  memoryBytesPerVector: number;
  fileBytesPerVector: number;
}

export function buildRaw(data: Dataset, quantization: Quantization, m: number, efConstruction: number): RawIndex {
  const index = createIndex({ dims: data.dims, metric: data.metric, quantization, m, efConstruction, engine: 'usearch' });
  const labels = Array.from({ length: data.baseRows }, (_, i) => i);
  const started = performance.now();
  // One batch: the adapter adds it with all cores, as a shard does with a COPY batch.
  index.add(labels, data.base);
  const buildSeconds = (performance.now() - started) / 1000;
  const dir = mkdtempSync(join(tmpdir(), 'vectorgate-bench-raw-'));
  const removeDir = onCleanup('raw index dir', () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'index.usearch');
  index.save(file);
  const fileBytes = statSync(file).size;
  void removeDir();
  return { quantization, index, buildSeconds, memoryBytesPerVector: index.memoryBytes() / data.baseRows, fileBytesPerVector: fileBytes / data.baseRows };
}

/** All queries one after another on this thread: QPS, mean latency and recall@k. */
export function searchRaw(raw: RawIndex, data: Dataset, k: number, ef: number, warmup: number): Measurement {
  for (let q = 0; q < Math.min(warmup, data.queryRows); q++) raw.index.search(row(data.queries, data.dims, q), k, ef);
  const found: number[][] = [];
  const started = performance.now();
  for (let q = 0; q < data.queryRows; q++) found.push(raw.index.search(row(data.queries, data.dims, q), k, ef).labels);
  const seconds = (performance.now() - started) / 1000;
  return {
    target: raw.quantization === 'f16' ? 'raw usearch f16' : 'raw usearch',
    connections: 1, ef, qps: data.queryRows / seconds, meanMs: (seconds * 1000) / data.queryRows, recall: recall(data.truth, found, k),
  };
}

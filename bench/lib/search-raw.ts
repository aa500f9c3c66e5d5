// The raw engine in this process: the same adapter the shards use (src/engine) for f32 and f16, and
// usearch directly for int8 and binary (search-raw-quantized.ts), on the whole base in one index,
// searched from one thread — the reference the proxy's numbers are held against.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIndex } from '../../src/engine/index-factory.ts';
import { onCleanup } from './cleanup.ts';
import { recall, row, type Dataset } from './search-data.ts';
import type { Measurement } from './search-report.ts';

/** The bench's names of the quantization kinds; `none` is what the SQL surface calls f32. */
export type Kind = 'f32' | 'f16' | 'int8' | 'binary';
export const KINDS: readonly Kind[] = ['f32', 'f16', 'int8', 'binary'];

export function parseKinds(option: string, list: string): Kind[] {
  return list.split(',').map((q) => {
    if (!(KINDS as readonly string[]).includes(q)) throw new Error(`--${option} takes a list of ${KINDS.join(', ')}; got ${q}`);
    return q as Kind;
  });
}

export interface RawIndex {
  kind: Kind;
  /** Labels of the k nearest, nearest first. */
  search(query: Float32Array, k: number, ef: number): number[];
  buildSeconds: number;
  memoryBytesPerVector: number;
  fileBytesPerVector: number;
  /** For int8/binary: candidates = ceil(k × oversample) rescored exactly; absent for f32/f16. */
  oversample?: number;
  /** For int8/binary: the float32 rows the rescoring reads, not in the index figures above. */
  rescoreBytesPerVector?: number;
}

/** What is kept of a raw index once its queries are done (without the index itself). */
export type RawFigures = Omit<RawIndex, 'search'>;

export function figuresOf({ search: _, ...figures }: RawIndex): RawFigures {
  return figures;
}

export function rawTarget(kind: Kind): string {
  return kind === 'f32' ? 'raw usearch' : `raw usearch ${kind}`;
}

/** Bytes of the saved index file (what a shard's snapshot holds of it). */
export function savedBytes(save: (path: string) => void): number {
  const dir = mkdtempSync(join(tmpdir(), 'vectorgate-bench-raw-'));
  const removeDir = onCleanup('raw index dir', () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'index.usearch');
  save(file);
  const bytes = statSync(file).size;
  void removeDir();
  return bytes;
}

export function buildRaw(data: Dataset, kind: 'f32' | 'f16', m: number, efConstruction: number): RawIndex {
  const index = createIndex({ dims: data.dims, metric: data.metric, quantization: kind === 'f16' ? 'f16' : 'none', m, efConstruction, engine: 'usearch' });
  const labels = Array.from({ length: data.baseRows }, (_, i) => i);
  const started = performance.now();
  // One batch: the adapter adds it with all cores, as a shard does with a COPY batch.
  index.add(labels, data.base);
  const buildSeconds = (performance.now() - started) / 1000;
  return {
    kind, buildSeconds,
    search: (query, k, ef) => index.search(query, k, ef).labels,
    memoryBytesPerVector: index.memoryBytes() / data.baseRows,
    fileBytesPerVector: savedBytes((path) => index.save(path)) / data.baseRows,
  };
}

/** All queries one after another on this thread: QPS, mean latency and recall@k. */
export function searchRaw(raw: RawIndex, data: Dataset, k: number, ef: number, warmup: number): Measurement {
  for (let q = 0; q < Math.min(warmup, data.queryRows); q++) raw.search(row(data.queries, data.dims, q), k, ef);
  const found: number[][] = [];
  const started = performance.now();
  for (let q = 0; q < data.queryRows; q++) found.push(raw.search(row(data.queries, data.dims, q), k, ef));
  const seconds = (performance.now() - started) / 1000;
  return {
    target: rawTarget(raw.kind),
    connections: 1, ef, qps: data.queryRows / seconds, meanMs: (seconds * 1000) / data.queryRows, recall: recall(data.truth, found, k),
  };
}

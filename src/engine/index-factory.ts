// Chooses the adapter for a collection's engine; the only module that knows both.
import { HnswlibIndex, hnswlibClass } from './hnswlib-index.ts';
import { UsearchIndex } from './usearch-index.ts';
import { assertSpec, type EngineKind, type IndexSpec, type VectorIndex } from './vector-index.ts';

export function createIndex(spec: IndexSpec): VectorIndex {
  assertSpec(spec);
  return spec.engine === 'usearch' ? UsearchIndex.create(spec) : HnswlibIndex.create(spec);
}

/** `mmap` maps a usearch file read-only until the first write (fast restart); hnswlib always reads it. */
export function loadIndex(spec: IndexSpec, path: string, options: { mmap?: boolean } = {}): VectorIndex {
  assertSpec(spec);
  return spec.engine === 'usearch'
    ? UsearchIndex.load(spec, path, options.mmap ?? true)
    : HnswlibIndex.load(spec, path);
}

/** Throws 0A000 naming the package when an optional engine is not installed; before anything is created. */
export function checkEngineAvailable(engine: EngineKind): void {
  if (engine === 'hnswlib') hnswlibClass();
}


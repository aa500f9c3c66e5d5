// The approximate-nearest-neighbour index behind one shard, with two adapters (usearch, hnswlib-node).
// Labels are the shard's slot numbers: non-negative safe integers. The wrapper owns input validation,
// because usearch silently returns nothing for a plain Array and hnswlib-node truncates labels.
//
// Native distances (what search() returns): l2 → squared Euclidean, cosine → 1 - cos, ip → 1 - dot;
// under binary quantization the number of differing sign bits. They only order candidates: the shard
// rescores them from its float32 rows. Cosine is served as inner product over vectors normalised once
// on insert (queries once per search), so neither library recomputes norms per distance.
//
// Quantization (how the index stores vectors): none = f32, f16, int8 (1 byte per dimension) and binary
// (1 sign bit per dimension, compared by Hamming distance). int8 and binary keep only a vector's
// direction, so they are sound for cosine alone (see quantizationProblem).
import { SqlState, VectorgateError } from '../errors.ts';
import type { Metric } from './vector-math.ts';

export type { Metric } from './vector-math.ts';
export type Quantization = 'none' | 'f16' | 'int8' | 'binary';
export type EngineKind = 'usearch' | 'hnswlib';

export const METRICS: readonly Metric[] = ['l2', 'cosine', 'ip'];
export const QUANTIZATIONS: readonly Quantization[] = ['none', 'f16', 'int8', 'binary'];
export const ENGINES: readonly EngineKind[] = ['usearch', 'hnswlib'];

export interface IndexSpec {
  dims: number;
  metric: Metric;
  quantization: Quantization;
  m: number;
  efConstruction: number;
  engine: EngineKind;
}

export interface SearchHits {
  labels: number[];
  /** Native distances, ascending. */
  distances: Float32Array;
}

export type Label = number | bigint;

export interface VectorIndex {
  readonly spec: IndexSpec;
  /** Adds `labels.length` rows; `vectors` holds them back to back. A label must not be present. */
  add(labels: readonly Label[], vectors: Float32Array): void;
  /** Returns whether the label was present. */
  remove(label: Label): boolean;
  /** Up to k nearest labels, searching with a candidate list of max(ef, k). */
  search(query: Float32Array, k: number, ef: number): SearchHits;
  /** search() for each query (each as long as dims), as one call that may use every core; labels only. */
  searchMany(queries: readonly Float32Array[], k: number, ef: number): number[][];
  size(): number;
  /** Estimated resident bytes of the graph and stored vectors. */
  memoryBytes(): number;
  /** Writes the whole index to one file (the caller makes it durable and atomic). */
  save(path: string): void;
}

/** Largest label any adapter accepts: labels travel as float64 numbers between threads. */
export const MAX_LABEL = Number.MAX_SAFE_INTEGER;

export function toLabel(label: Label): number {
  const n = typeof label === 'bigint' ? Number(label) : label;
  if (!Number.isSafeInteger(n) || n < 0 || BigInt(n) !== BigInt(label)) {
    throw new RangeError(`label must be a non-negative safe integer, got ${String(label)}`);
  }
  return n;
}

/** Rejects anything but a Float32Array of `count` × dims finite values (22000, like pgvector). */
export function checkVectors(vectors: unknown, dims: number, count: number): asserts vectors is Float32Array {
  if (!(vectors instanceof Float32Array)) {
    throw new VectorgateError(SqlState.DataException, 'vectors must be a Float32Array');
  }
  if (vectors.length !== dims * count) {
    const got = count === 0 ? vectors.length : vectors.length / count;
    throw new VectorgateError(SqlState.DataException, `expected ${dims} dimensions, not ${got}`);
  }
  for (let i = 0; i < vectors.length; i++) {
    if (!Number.isFinite(vectors[i])) {
      throw new VectorgateError(SqlState.DataException, `vector value ${String(vectors[i])} is not finite`);
    }
  }
}

/** Cosine needs a direction: a zero vector has none. */
export function checkNonZero(vectors: Float32Array, dims: number): void {
  for (let offset = 0; offset < vectors.length; offset += dims) {
    let any = false;
    for (let i = 0; i < dims && !any; i++) any = vectors[offset + i] !== 0;
    if (!any) throw new VectorgateError(SqlState.DataException, 'cosine distance is undefined for a zero vector');
  }
}

export function checkSearchArgs(spec: IndexSpec, query: unknown, k: number, ef: number): asserts query is Float32Array {
  checkVectors(query, spec.dims, 1);
  if (spec.metric === 'cosine') checkNonZero(query, spec.dims);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  if (!Number.isInteger(ef) || ef < 1) throw new RangeError(`ef must be a positive integer, got ${ef}`);
}

export function assertSpec(spec: IndexSpec): void {
  const ok = Number.isInteger(spec.dims) && spec.dims > 0 && METRICS.includes(spec.metric)
    && QUANTIZATIONS.includes(spec.quantization) && ENGINES.includes(spec.engine)
    && Number.isInteger(spec.m) && spec.m >= 2 && Number.isInteger(spec.efConstruction) && spec.efConstruction >= 1;
  if (!ok) throw new RangeError(`invalid index spec ${JSON.stringify(spec)}`);
  const problem = quantizationProblem(spec.engine, spec.metric, spec.quantization);
  if (problem !== null) throw new VectorgateError(SqlState.InvalidParameterValue, problem);
}

/**
 * Why this engine, metric and quantization do not work together (null when they do). usearch's int8
 * divides each vector by its norm before scaling it to [-127, 127], and binary keeps one sign bit per
 * dimension: both keep directions only, so l2 and ip (which depend on lengths) would rank wrongly, and
 * usearch's b1 with l2 even returns NaN. Cosine vectors are unit length already, so nothing is lost.
 */
export function quantizationProblem(engine: EngineKind, metric: Metric, quantization: Quantization): string | null {
  if (engine === 'hnswlib' && quantization !== 'none') return 'the hnswlib engine has no quantization: use usearch for f16, int8 or binary';
  if (metric === 'cosine') return null;
  if (quantization === 'int8') {
    return `int8 quantization needs metric cosine: usearch's int8 scales each vector into [-1, 1] by its norm, losing the lengths ${metric} needs; use f16 or none for ${metric}`;
  }
  if (quantization === 'binary') {
    return `binary quantization needs metric cosine: one sign bit per dimension compared by Hamming distance keeps only directions, not the lengths ${metric} needs; use f16 or none for ${metric}`;
  }
  return null;
}

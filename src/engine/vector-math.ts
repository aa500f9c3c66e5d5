// Distance kernels shared by the index adapters (cosine normalisation) and the shard (exact search and
// re-scoring of candidates from stored float32 vectors). Plain loops: V8 compiles them to tight code and
// the dimension counts here (≤ 16k) fit in cache.

export type Metric = 'l2' | 'cosine' | 'ip';

export function dot(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, dims: number): number {
  let sum = 0;
  for (let i = 0; i < dims; i++) sum += a[aOffset + i]! * b[bOffset + i]!;
  return sum;
}

export function l2sq(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, dims: number): number {
  let sum = 0;
  for (let i = 0; i < dims; i++) {
    const d = a[aOffset + i]! - b[bOffset + i]!;
    sum += d * d;
  }
  return sum;
}

export function norm(v: Float32Array, offset: number, dims: number): number {
  return Math.sqrt(dot(v, offset, v, offset, dims));
}

/** Unit-length copies of `count` rows of `vectors`; the caller has rejected zero rows already. */
export function normalizedCopy(vectors: Float32Array, dims: number): Float32Array {
  const out = new Float32Array(vectors.length);
  for (let offset = 0; offset < vectors.length; offset += dims) {
    const n = norm(vectors, offset, dims);
    for (let i = 0; i < dims; i++) out[offset + i] = vectors[offset + i]! / n;
  }
  return out;
}

/**
 * The distance vectorgate reports, as pgvector's operators do: `<->` Euclidean for l2, `<=>` 1 - cos
 * for cosine, `<#>` negative inner product for ip. `query` is already unit length for cosine, and
 * `rowNorm` is the stored row's norm (computed once when the row was written).
 */
export function reportedDistance(
  metric: Metric, query: Float32Array, rows: Float32Array, rowOffset: number, dims: number, rowNorm: number,
): number {
  switch (metric) {
    case 'l2': return Math.sqrt(l2sq(query, 0, rows, rowOffset, dims));
    case 'cosine': return 1 - dot(query, 0, rows, rowOffset, dims) / rowNorm;
    case 'ip': return -dot(query, 0, rows, rowOffset, dims);
  }
}

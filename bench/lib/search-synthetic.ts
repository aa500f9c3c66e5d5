// --synthetic N: a deterministic clustered data set for sizes the shared data sets do not have (1M).
// Each vector is a cluster centre plus the cluster's own low-rank spread plus a little isotropic noise:
// real embeddings have a low intrinsic dimension (isotropic Gaussians in 100 dimensions make every
// neighbour almost equally far, which no ANN index and no real data set looks like). Queries come
// from the same distribution with another seed and are not in the base. Cosine; exact truth by brute
// force over every base row (search-truth.ts).
import { seeded } from '../../test/helpers/random.ts';
import type { Dataset } from './search-data.ts';
import { exactTopK } from './search-truth.ts';

/** Clusters, the same for every N, so that a larger N is the same distribution sampled more densely. */
const CLUSTERS = 256;
// Chosen by measurement so the set is about as hard as glove-100 for HNSW: at 100k rows, m 16,
// ef_construction 200, the raw engine's recall@10 is 0.82 at ef 16, 0.95 at ef 64, 0.99 near ef 256.
// (Rank 12, noise 0.1, centres of scale 1 gave 0.98 at ef 16: too easy to tell targets apart.)
/** Dimensions of each cluster's spread (its local intrinsic dimension). */
const LATENT_DIMS = 64;
/** Isotropic noise per dimension, next to a spread of about 1 per dimension. */
const NOISE = 0.2;
/** Scale of the cluster centres: below the spread, so that neighbouring clusters overlap. */
const CENTRE = 0.5;

/** mulberry32, the tests' seeded generator (test/helpers/random.ts): the same seed, the same data. */
export const prng = seeded;

/** Standard normal samples by Box–Muller, both of each pair used. */
export function gaussian(uniform: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) { const s = spare; spare = null; return s; }
    const r = Math.sqrt(-2 * Math.log(1 - uniform()));
    const theta = 2 * Math.PI * uniform();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}

interface Cluster { centre: Float32Array; spread: Float32Array }

function clusters(dims: number, normal: () => number, uniform: () => number): Cluster[] {
  return Array.from({ length: CLUSTERS }, () => {
    const centre = Float32Array.from({ length: dims }, () => normal() * CENTRE);
    // Spread scale varies by cluster, so that clusters differ in density as real ones do.
    const scale = (0.5 + uniform()) / Math.sqrt(LATENT_DIMS);
    const spread = Float32Array.from({ length: dims * LATENT_DIMS }, () => normal() * scale);
    return { centre, spread };
  });
}

/** `rows` vectors into `out` (a SharedArrayBuffer for large N, so the truth threads share it). */
function sample(out: Float32Array, rows: number, dims: number, all: Cluster[], seed: number): void {
  const uniform = prng(seed);
  const normal = gaussian(uniform);
  const z = new Float64Array(LATENT_DIMS);
  for (let i = 0; i < rows; i++) {
    const { centre, spread } = all[Math.floor(uniform() * all.length)]!;
    for (let l = 0; l < LATENT_DIMS; l++) z[l] = normal();
    const off = i * dims;
    for (let j = 0; j < dims; j++) {
      let v = centre[j]! + NOISE * normal();
      const row = j * LATENT_DIMS;
      for (let l = 0; l < LATENT_DIMS; l++) v += spread[row + l]! * z[l]!;
      out[off + j] = v;
    }
  }
}

export function syntheticName(rows: number, dims: number): string {
  return `synthetic-${rows}x${dims}`;
}

export async function syntheticDataset(rows: number, dims: number, queryRows: number, k: number, seed = 1): Promise<Dataset> {
  const uniform = prng(seed);
  const all = clusters(dims, gaussian(uniform), uniform);
  const base = new Float32Array(new SharedArrayBuffer(rows * dims * 4));
  sample(base, rows, dims, all, seed + 1);
  const queries = new Float32Array(queryRows * dims);
  sample(queries, queryRows, dims, all, seed + 2);
  const started = performance.now();
  const truth = await exactTopK(base, rows, queries, queryRows, dims, 'cosine', k);
  const seconds = (performance.now() - started) / 1000;
  return {
    name: syntheticName(rows, dims), metric: 'cosine', dims, base, baseRows: rows, queries, queryRows, truth,
    truthSource: `brute force over all ${rows} rows (${seconds.toFixed(1)} s); ${CLUSTERS} clusters of rank ${LATENT_DIMS}, seed ${seed}`,
  };
}

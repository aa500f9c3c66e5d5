// One contract for every VectorIndex adapter: the shard relies on exactly these behaviours.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createIndex, loadIndex } from '../../src/engine/index-factory.ts';
import type { IndexSpec, Metric } from '../../src/engine/vector-index.ts';
import { VectorgateError } from '../../src/errors.ts';
import { bruteForce, randomVectors, recallAt, rng } from './helpers/data.ts';

const variants: Omit<IndexSpec, 'dims' | 'metric'>[] = [
  { engine: 'usearch', quantization: 'none', m: 16, efConstruction: 100 },
  { engine: 'usearch', quantization: 'f16', m: 16, efConstruction: 100 },
  { engine: 'hnswlib', quantization: 'none', m: 16, efConstruction: 100 },
];

const dir = mkdtempSync(join(tmpdir(), 'vg-index-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function filled(variant: Omit<IndexSpec, 'dims' | 'metric'>, metric: Metric, count: number, seed = 1) {
  const spec: IndexSpec = { ...variant, dims: 8, metric };
  const index = createIndex(spec);
  const vectors = randomVectors(rng(seed), count, 8);
  index.add(Array.from({ length: count }, (_, i) => i), vectors);
  return { index, vectors, spec };
}

for (const variant of variants) {
  const name = `${variant.engine}/${variant.quantization}`;
  describe(`VectorIndex contract: ${name}`, () => {
    test('finds each stored vector first, distances ascending', () => {
      for (const metric of ['l2', 'cosine', 'ip'] as const) {
        const { index, vectors } = filled(variant, metric, 200);
        assert.equal(index.size(), 200);
        for (const i of [0, 17, 199]) {
          const hits = index.search(vectors.subarray(i * 8, i * 8 + 8), 5, 64);
          assert.equal(hits.labels.length, 5);
          for (let j = 1; j < 5; j++) assert.ok(hits.distances[j]! >= hits.distances[j - 1]!);
          if (metric !== 'ip') assert.equal(hits.labels[0], i, `${metric}: row ${i} finds itself`);
        }
      }
    });

    test('native distances: squared l2, 1 - cos, 1 - dot', () => {
      const tolerance = variant.quantization === 'f16' ? 1e-2 : 1e-5;
      const check = (metric: Metric, a: number[], b: number[], want: number) => {
        const index = createIndex({ ...variant, dims: 2, metric });
        index.add([7], Float32Array.from(b));
        const hits = index.search(Float32Array.from(a), 1, 10);
        assert.ok(Math.abs(hits.distances[0]! - want) < tolerance, `${metric}: ${hits.distances[0]} vs ${want}`);
      };
      check('l2', [0, 0], [3, 4], 25);
      check('cosine', [2, 0], [1, 1], 1 - Math.SQRT1_2);
      check('ip', [0.5, 0.5], [0.2, 0.4], 1 - 0.3);
    });

    test('remove hides a label; the label can be added again', () => {
      const { index, vectors } = filled(variant, 'l2', 100);
      assert.equal(index.remove(5), true);
      assert.equal(index.remove(5), false);
      assert.equal(index.size(), 99);
      const q = vectors.subarray(40, 48);
      assert.ok(!index.search(q, 10, 64).labels.includes(5));
      index.add([5n], q);
      const hits = index.search(q, 2, 64);
      assert.ok(hits.labels.includes(5));
      assert.equal(index.size(), 100);
    });

    test('rejects bad input instead of returning nothing', () => {
      const { index } = filled(variant, 'cosine', 10);
      const isDataError = (e: unknown) => e instanceof VectorgateError && e.code === '22000';
      assert.throws(() => index.search([1, 2, 3, 4, 5, 6, 7, 8] as unknown as Float32Array, 1, 10), isDataError);
      assert.throws(() => index.search(new Float32Array(7), 1, 10), isDataError);
      assert.throws(() => index.search(new Float32Array(8), 1, 10), isDataError);
      assert.throws(() => index.add([11], Float32Array.from([1, 2, 3, NaN, 5, 6, 7, 8])), isDataError);
      assert.throws(() => index.add([11], Float32Array.from([1, 2, 3, Infinity, 5, 6, 7, 8])), isDataError);
      assert.throws(() => index.add([11, 12], new Float32Array(8).fill(1)), isDataError);
      assert.throws(() => index.add([-1], new Float32Array(8).fill(1)), RangeError);
      assert.throws(() => index.add([2 ** 53], new Float32Array(8).fill(1)), RangeError);
      assert.throws(() => index.add([3], new Float32Array(8).fill(1)));
      assert.equal(index.size(), 10);
    });

    test('k larger than the index returns every row; labels beyond uint32 survive', () => {
      const index = createIndex({ ...variant, dims: 8, metric: 'l2' });
      const big = [2 ** 40, 2 ** 32 + 1, 3];
      index.add(big, randomVectors(rng(3), 3, 8));
      const hits = index.search(new Float32Array(8).fill(0.1), 10, 10);
      assert.deepEqual([...hits.labels].sort((a, b) => a - b), [3, 2 ** 32 + 1, 2 ** 40]);
    });

    test('grows without a fixed capacity', () => {
      const { index, vectors } = filled(variant, 'l2', 3000, 4);
      assert.equal(index.size(), 3000);
      assert.equal(index.search(vectors.subarray(2999 * 8, 3000 * 8), 1, 64).labels[0], 2999);
      assert.ok(index.memoryBytes() > 3000 * 8 * (variant.quantization === 'f16' ? 2 : 4));
    });

    test('a large add after small ones that grew the index (usearch grows with the contexts of that add\'s threads)', () => {
      const index = createIndex({ ...variant, dims: 8, metric: 'l2' });
      const random = rng(5);
      let next = 0;
      const add = (rows: number) => {
        index.add(Array.from({ length: rows }, () => next++), randomVectors(random, rows, 8));
      };
      // Small adds until one grows the index (usearch: on one thread), then a large one that fits.
      add(1000);
      const grown = index.memoryBytes();
      for (let i = 0; i < 1000 && index.memoryBytes() === grown; i++) add(10);
      add(1000);
      for (let i = 0; i < 40; i++) add(1 + (i % 9));
      add(500);
      assert.equal(index.size(), next);
    });

    test('save and load (mmap view for usearch) give the same answers, and stay writable', () => {
      const { index, vectors, spec } = filled(variant, 'cosine', 500, 5);
      index.remove(3);
      const path = join(dir, `${variant.engine}-${variant.quantization}.idx`);
      index.save(path);
      for (const mmap of [true, false]) {
        const loaded = loadIndex(spec, path, { mmap });
        assert.equal(loaded.size(), 499);
        const q = vectors.subarray(80, 88);
        assert.deepEqual(loaded.search(q, 10, 64).labels, index.search(q, 10, 64).labels);
        loaded.add([3], vectors.subarray(24, 32));
        assert.equal(loaded.search(vectors.subarray(24, 32), 1, 64).labels[0], 3);
      }
    });

    test('a larger ef per query never lowers recall much and reaches exact on small data', () => {
      const random = rng(6);
      const base = { dims: 16, count: 2000, data: randomVectors(random, 2000, 16) };
      const queries = { dims: 16, count: 30, data: randomVectors(random, 30, 16) };
      const index = createIndex({ ...variant, dims: 16, metric: 'l2' });
      index.add(Array.from({ length: base.count }, (_, i) => i), base.data);
      const truth = bruteForce(base, queries, 10, 'l2');
      const recallFor = (ef: number) => recallAt(10, truth, truth.map((_, q) => index.search(queries.data.subarray(q * 16, q * 16 + 16), 10, ef).labels));
      const low = recallFor(10);
      const high = recallFor(400);
      assert.ok(high >= low - 0.02, `ef 400 recall ${high} vs ef 10 recall ${low}`);
      assert.ok(high >= (variant.quantization === 'f16' ? 0.97 : 0.99), `recall at ef 400: ${high}`);
    });
  });
}

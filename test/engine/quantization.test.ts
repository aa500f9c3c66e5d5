// int8 and binary quantization with exact rescoring: recall@10 on a glove-100 subset (cosine, ground
// truth by brute force here) against f32 at the same ef, what rescore off changes, the combinations
// refused, byte padding of binary vectors, save/load, memory estimates, the worker codec, and a
// snapshot + restart of quantized collections.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { decodeRequest, encodeRequest } from '../../src/cluster/worker-codec.ts';
import { DEFAULTS, makeConfig } from '../../src/config.ts';
import { createIndex, loadIndex } from '../../src/engine/index-factory.ts';
import { Shard } from '../../src/engine/shard.ts';
import type { SearchTrace } from '../../src/engine/shard-search.ts';
import { vectorBytes } from '../../src/engine/usearch-index.ts';
import type { EngineKind, IndexSpec, Metric, Quantization } from '../../src/engine/vector-index.ts';
import { VectorgateError } from '../../src/errors.ts';
import { Collections } from '../../src/router/collections.ts';
import type { Op } from '../../src/storage/record-codec.ts';
import { bruteForce, DATA_DIR, randomVectors, readFvecs, recallAt, rng, row, type VectorSet } from './helpers/data.ts';

const dir = mkdtempSync(join(tmpdir(), 'vg-quant-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const GLOVE_SUBSET = 10_000;
const base = readFvecs(join(DATA_DIR, 'glove-100/base.fvecs'), GLOVE_SUBSET);
const queries = readFvecs(join(DATA_DIR, 'glove-100/query.fvecs'), 100);
const truth = bruteForce(base, queries, 10, 'cosine');
const EF = DEFAULTS.defaultEfSearch;

const specOf = (quantization: Quantization, dims = 100, metric: Metric = 'cosine', engine: EngineKind = 'usearch'): IndexSpec =>
  ({ engine, dims, metric, quantization, m: DEFAULTS.defaultM, efConstruction: DEFAULTS.defaultEfConstruction });

function upserts(set: VectorSet, from: number, to: number): Op[] {
  return Array.from({ length: to - from }, (_, i) => ({ op: 'upsert' as const, id: String(from + i), vector: row(set, from + i), payload: null }));
}

function gloveShard(quantization: Quantization): Shard {
  const shard = new Shard(specOf(quantization), DEFAULTS);
  for (let from = 0, seq = 1; from < base.count; from += DEFAULTS.maxBatchRows, seq++) shard.apply(seq, upserts(base, from, Math.min(base.count, from + DEFAULTS.maxBatchRows)));
  assert.equal(shard.indexPending(), 0, 'every row in the quantized index, so recall measures it');
  return shard;
}

function recall(shard: Shard, options: { rescore?: boolean; oversample?: number } = {}): { recall: number; candidates: number[] } {
  const found: number[][] = [];
  const candidates = new Set<number>();
  for (let q = 0; q < queries.count; q++) {
    const trace: SearchTrace = { strategy: 'hnsw', reason: '', rows: 0, ef: 0, candidates: [], rescored: 0 };
    found.push(shard.search(row(queries, q), 10, { ef: EF, ...options }, trace).map((h) => Number(h.id)));
    for (const c of trace.candidates) candidates.add(c);
  }
  return { recall: recallAt(10, truth, found), candidates: [...candidates] };
}

const code = (fn: () => unknown): string => {
  try { fn(); return 'ok'; } catch (e) { if (e instanceof VectorgateError) return e.code; throw e; }
};

describe('recall@10 after rescoring on a glove-100 subset (cosine), same ef', () => {
  const f32 = recall(gloveShard('none')).recall;
  const binary = gloveShard('binary');

  test('int8 at its default oversample is within 0.01 of f32', (t) => {
    const int8 = recall(gloveShard('int8'));
    t.diagnostic(`f32 ${f32.toFixed(4)}, int8 ${int8.recall.toFixed(4)} (candidates ${int8.candidates.join(', ')})`);
    assert.deepEqual(int8.candidates, [Math.ceil(10 * DEFAULTS.defaultOversampleInt8)]);
    assert.ok(int8.recall >= f32 - 0.01, `f32 ${f32} int8 ${int8.recall}`);
  });

  test('binary at its default oversample is within 0.01 of f32', (t) => {
    const on = recall(binary);
    t.diagnostic(`f32 ${f32.toFixed(4)}, binary ${on.recall.toFixed(4)} (candidates ${on.candidates.join(', ')})`);
    assert.deepEqual(on.candidates, [Math.ceil(10 * DEFAULTS.defaultOversampleBinary)]);
    assert.ok(on.recall >= f32 - 0.01, `f32 ${f32} binary ${on.recall}`);
  });

  test('binary with rescore off asks for k candidates and finds fewer true neighbours; an explicit oversample is used', (t) => {
    const on = recall(binary);
    const off = recall(binary, { rescore: false, oversample: 50 });
    const three = recall(binary, { oversample: 3 });
    t.diagnostic(`binary rescore on ${on.recall.toFixed(4)}, off ${off.recall.toFixed(4)}, oversample 3 ${three.recall.toFixed(4)}`);
    assert.deepEqual(off.candidates, [10], 'rescore off: no oversampling, whatever oversample says');
    assert.deepEqual(three.candidates, [30]);
    assert.ok(off.recall < three.recall && three.recall < on.recall, `off ${off.recall} < oversample 3 ${three.recall} < default ${on.recall}`);
  });

  test('oversample outside 1..maxOversample is 22023', () => {
    for (const oversample of [0, 0.5, DEFAULTS.maxOversample + 1, NaN]) {
      assert.equal(code(() => binary.search(row(queries, 0), 10, { oversample })), '22023', `oversample ${oversample}`);
    }
    assert.equal(code(() => binary.search(row(queries, 0), 10, { oversample: 1.5 })), 'ok');
  });
});

describe('quantized indexes', () => {
  test('int8 and binary need cosine; hnswlib has no quantization (22023, saying why and what works)', () => {
    const refused = (spec: IndexSpec, pattern: RegExp) => assert.throws(() => createIndex(spec), (e) => e instanceof VectorgateError && e.code === '22023' && pattern.test(e.message));
    refused(specOf('int8', 8, 'l2'), /int8 quantization needs metric cosine: usearch's int8 scales each vector into \[-1, 1\].*use f16 or none for l2/);
    refused(specOf('int8', 8, 'ip'), /int8 quantization needs metric cosine/);
    refused(specOf('binary', 8, 'l2'), /binary quantization needs metric cosine: one sign bit per dimension.*use f16 or none for l2/);
    refused(specOf('binary', 8, 'ip'), /binary quantization needs metric cosine/);
    refused(specOf('int8', 8, 'cosine', 'hnswlib'), /the hnswlib engine has no quantization: use usearch for f16, int8 or binary/);
  });

  test('binary vectors whose dims are not a multiple of 8 keep their last bits apart', () => {
    const index = createIndex(specOf('binary', 12));
    const a = new Float32Array(12).fill(1);
    const b = Float32Array.from({ length: 12 }, (_, i) => (i < 8 ? 1 : -1));
    index.add([0], a);
    index.add([1], b);
    const hits = index.search(b, 2, 10);
    assert.deepEqual(hits.labels, [1, 0]);
    assert.deepEqual(Array.from(hits.distances), [0, 4], 'Hamming distance over the 12 sign bits');
  });

  for (const quantization of ['int8', 'binary'] as const) {
    test(`${quantization}: each row finds itself; save and load (mmap and not) answer the same and stay writable`, () => {
      const index = createIndex(specOf(quantization, 20));
      const vectors = randomVectors(rng(7), 300, 20);
      index.add(Array.from({ length: 300 }, (_, i) => i), vectors);
      for (const i of [0, 150, 299]) assert.equal(index.search(vectors.subarray(i * 20, i * 20 + 20), 5, 64).labels[0], i);
      const path = join(dir, `${quantization}.idx`);
      index.save(path);
      for (const mmap of [true, false]) {
        const loaded = loadIndex(specOf(quantization, 20), path, { mmap });
        const q = vectors.subarray(40, 60);
        assert.deepEqual(loaded.search(q, 10, 64).labels, index.search(q, 10, 64).labels);
        loaded.add([300], Float32Array.from(q, (x) => -x));
        assert.equal(loaded.search(Float32Array.from(q, (x) => -x), 1, 64).labels[0], 300);
      }
    });
  }

  test('memoryBytes counts 4, 2, 1 bytes or 1 bit per dimension', () => {
    assert.deepEqual((['none', 'f16', 'int8', 'binary'] as const).map((q) => vectorBytes(specOf(q, 100))), [400, 200, 100, 13]);
    const sizes = (['none', 'f16', 'int8', 'binary'] as const).map((q) => {
      const index = createIndex(specOf(q, 100));
      index.add(Array.from({ length: 500 }, (_, i) => i), base.data.subarray(0, 500 * 100));
      return index.memoryBytes();
    });
    for (let i = 1; i < sizes.length; i++) assert.ok(sizes[i]! < sizes[i - 1]!, `memoryBytes ${sizes.join(' > ')}`);
  });

  test('the cluster worker codec carries the new kinds, rescore and oversample', () => {
    const limits = { maxBytes: DEFAULTS.grpcMaxMessageBytes, gzipMinBytes: 0 };
    const open = decodeRequest(encodeRequest({ type: 'open', shard: 's', dir: '/d', spec: specOf('binary'), committed: [] }, limits), limits);
    assert.equal(open.type === 'open' && open.spec.quantization, 'binary');
    const search = decodeRequest(encodeRequest({ type: 'search', shard: 's', query: Float32Array.of(1, 2), k: 3, options: { ef: 9, oversample: 2.5, rescore: false } }, limits), limits);
    assert.deepEqual(search.type === 'search' && search.options, { ef: 9, oversample: 2.5, rescore: false });
  });
});

describe('quantized collections across a snapshot and a restart', () => {
  test('int8 and binary collections answer the same after snapshot, close and reopen', async () => {
    const root = join(dir, 'collections');
    const config = makeConfig({ dataDir: root, shardWorkers: 1 });
    let all = await Collections.open(root, config);
    const rows = Array.from({ length: 2000 }, (_, i) => ({ id: String(i), vector: row(base, i) }));
    const answers = async (db: ReturnType<Collections['in']>) => {
      const out: Record<string, string[][]> = {};
      for (const name of ['q8', 'qb']) out[name] = await Promise.all([0, 1, 2, 3, 4].map(async (q) => (await db.search(name, row(queries, q), 10)).map((h) => `${h.id}:${h.distance}`)));
      return out;
    };
    try {
      const db = all.in('app');
      await db.createCollection({ name: 'q8', dims: 100, metric: 'cosine', quantization: 'int8', shards: 2, owner: 'alice' });
      await db.createCollection({ name: 'qb', dims: 100, metric: 'cosine', quantization: 'binary', shards: 2, owner: 'alice' });
      for (const name of ['q8', 'qb']) await db.upsert(name, rows);
      const before = await answers(db);
      for (const name of ['q8', 'qb']) await db.snapshot(name);
      await all.close();
      all = await Collections.open(root, config);
      const again = all.in('app');
      assert.deepEqual((await again.listCollections()).map((c) => [c.name, c.quantization, c.vectors]), [['q8', 'int8', 2000], ['qb', 'binary', 2000]]);
      assert.deepEqual(await answers(again), before);
    } finally {
      await all.close();
    }
  });
});

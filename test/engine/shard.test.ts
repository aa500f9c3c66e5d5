import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DEFAULTS } from '../../src/config.ts';
import { Shard } from '../../src/engine/shard.ts';
import type { EngineKind, IndexSpec } from '../../src/engine/vector-index.ts';
import type { SearchTrace } from '../../src/engine/shard-search.ts';
import { VectorgateError } from '../../src/errors.ts';
import type { Op } from '../../src/storage/record-codec.ts';
import { bruteForce, DATA_DIR, randomVectors, readFvecs, rng, row } from './helpers/data.ts';

const distance = (a: Float32Array, b: Float32Array): number => a.reduce((sum, x, i) => sum + (x - b[i]!) ** 2, 0);

const spec = (engine: EngineKind, dims = 4): IndexSpec => ({ engine, dims, metric: 'l2', quantization: 'none', m: 16, efConstruction: 100 });
const up = (id: string, v: number[], payload: object | null = null): Op => ({ op: 'upsert', id, vector: Float32Array.from(v), payload: payload === null ? null : JSON.stringify(payload) });

for (const engine of ['usearch', 'hnswlib'] as const) {
  describe(`shard state machine (${engine})`, () => {
    test('applies in order exactly once; re-upsert replaces; delete removes', () => {
      const shard = new Shard(spec(engine), DEFAULTS);
      assert.equal(shard.apply(1, [up('a', [0, 0, 0, 0], { n: 1 }), up('b', [1, 1, 1, 1])]), true);
      assert.equal(shard.apply(1, [up('c', [2, 2, 2, 2])]), false, 'a replayed record is skipped');
      assert.throws(() => shard.apply(3, []), /skipped/);
      shard.apply(2, [up('a', [5, 5, 5, 5], { n: 2 }), up('a', [6, 6, 6, 6], { n: 3 }), { op: 'delete', id: 'b' }, { op: 'delete', id: 'zz' }]);
      assert.equal(shard.count, 1);
      assert.equal(shard.index.size() + shard.unindexed.size, 1, 'a replaced row is stored once');
      assert.equal(shard.indexPending(), 0);
      assert.equal(shard.index.size(), 1);
      assert.deepEqual(shard.get('a'), { id: 'a', vector: Float32Array.of(6, 6, 6, 6), payload: '{"n":3}' });
      assert.equal(shard.get('b'), null);
      assert.deepEqual(shard.search(Float32Array.of(6, 6, 6, 7), 5).map((h) => [h.id, h.distance]), [['a', 1]]);
      assert.equal(shard.search(Float32Array.of(0, 0, 0, 0), 1, { filter: { n: 1 } }).length, 0);
      shard.apply(3, [{ op: 'delete', id: 'a' }, up('b', [1, 1, 1, 1])]);
      assert.deepEqual(shard.search(Float32Array.of(0, 0, 0, 0), 5).map((h) => h.id), ['b']);
      assert.equal(shard.lastApplied, 3);
    });

    test('a shard of at most exactScanMaxRows rows answers an unfiltered search by an exact scan; above it, by the graph', () => {
      const random = rng(31);
      const vectors = randomVectors(random, 300, 8);
      const ops = Array.from({ length: 300 }, (_, i) => up(`r${i}`, Array.from(vectors.subarray(i * 8, (i + 1) * 8))));
      const query = randomVectors(random, 1, 8);
      const exact = ops.map((op, i) => ({ id: (op as { id: string }).id, d: distance(query, vectors.subarray(i * 8, (i + 1) * 8)) }))
        .sort((a, b) => a.d - b.d).slice(0, 10).map((h) => h.id);
      for (const [limit, strategy] of [[300, 'exact over a scan'], [299, 'hnsw']] as const) {
        const shard = new Shard(spec(engine, 8), { ...DEFAULTS, exactScanMaxRows: limit });
        shard.apply(1, ops);
        shard.indexPending();
        const trace = { strategy: 'hnsw', reason: '', rows: 0, ef: 0, candidates: [], rescored: 0 } as SearchTrace;
        const hits = shard.search(query, 10, { ef: 16 }, trace);
        assert.equal(trace.strategy, strategy);
        if (strategy === 'exact over a scan') {
          assert.deepEqual(hits.map((h) => h.id), exact);
          assert.equal(trace.rescored, 300, 'every row scored');
        } else {
          assert.deepEqual(trace.candidates, [10], 'the graph walk asked for k candidates');
        }
      }
    });

    test('rows not indexed yet are scored exactly beside the index; replacing or deleting them works; steps converge', () => {
      const shard = new Shard(spec(engine, 8), DEFAULTS);
      const random = rng(23);
      const vectors = randomVectors(random, 600, 8);
      const ops = (from: number, to: number): Op[] => Array.from({ length: to - from }, (_, i) => ({ op: 'upsert', id: `r${from + i}`, vector: vectors.slice((from + i) * 8, (from + i + 1) * 8), payload: null }));
      shard.apply(1, ops(0, 300));
      shard.indexPending();
      shard.apply(2, ops(300, 600));
      assert.equal(shard.unindexed.size, 300);
      const query = randomVectors(random, 1, 8);
      const exact = (): string[] => [...Array(600).keys()].filter((i) => shard.get(`r${i}`) !== null)
        .map((i) => ({ id: `r${i}`, d: distance(query, shard.get(`r${i}`)!.vector) })).sort((a, b) => a.d - b.d).slice(0, 5).map((h) => h.id);
      const nearestUnindexed = exact().find((id) => Number(id.slice(1)) >= 300);
      assert.ok(nearestUnindexed !== undefined, 'the seed puts an unindexed row among the 5 nearest');
      assert.deepEqual(shard.search(query, 5, { ef: 600 }).map((h) => h.id), exact());
      shard.apply(3, [{ op: 'delete', id: nearestUnindexed }, { op: 'upsert', id: 'r450', vector: query.slice(), payload: null }]);
      assert.equal(shard.search(query, 1)[0]!.id, 'r450', 'a replaced unindexed row is found at its new vector');
      assert.ok(!shard.search(query, 5, { ef: 600 }).some((h) => h.id === nearestUnindexed), 'a deleted unindexed row is gone');
      let left = shard.unindexed.size;
      while (left > 0) {
        const next = shard.indexPending(64);
        assert.equal(next, Math.max(0, left - 64));
        left = next;
      }
      assert.equal(shard.index.size(), shard.count);
      assert.deepEqual(shard.search(query, 5, { ef: 600 }).map((h) => h.id), exact());
    });

    test('checkWrite rejects bad rows with their SQLSTATE before they reach the log', () => {
      const shard = new Shard({ ...spec(engine), metric: 'cosine' }, { ...DEFAULTS, maxPayloadBytes: 20 });
      const code = (ops: Op[]) => { try { shard.checkWrite(ops); return 'ok'; } catch (e) { return (e as VectorgateError).code; } };
      assert.equal(code([up('a', [1, 2, 3, 4], { a: 1 })]), 'ok');
      assert.equal(code([up('a', [1, 2, 3])]), '22000');
      assert.equal(code([up('a', [1, 2, 3, NaN])]), '22000');
      assert.equal(code([up('a', [0, 0, 0, 0])]), '22000');
      assert.equal(code([up('', [1, 2, 3, 4])]), '22023');
      assert.equal(code([up('x'.repeat(2000), [1, 2, 3, 4])]), '54000');
      assert.equal(code([up('a', [1, 2, 3, 4], { long: 'x'.repeat(30) })]), '54000');
      assert.equal(code([{ op: 'upsert', id: 'a', vector: Float32Array.of(1, 2, 3, 4), payload: '[1]' }]), '22023');
      assert.equal(code([{ op: 'upsert', id: 'a', vector: Float32Array.of(1, 2, 3, 4), payload: '{x' }]), '22P02');
    });

    test('k and ef limits, growth past the initial capacity with churn', () => {
      const shard = new Shard(spec(engine, 8), DEFAULTS);
      const random = rng(11);
      for (let seq = 1; seq <= 6; seq++) {
        const ops: Op[] = [];
        for (let i = 0; i < 1000; i++) ops.push({ op: 'upsert', id: `r${(seq * 700 + i) % 3000}`, vector: randomVectors(random, 1, 8), payload: null });
        for (let i = 0; i < 100; i++) ops.push({ op: 'delete', id: `r${(seq * 37 + i * 13) % 3000}` });
        shard.apply(seq, ops);
        assert.equal(shard.indexPending(seq % 2 === 0 ? Infinity : 500), seq % 2 === 0 ? 0 : shard.unindexed.size);
      }
      assert.equal(shard.index.size() + shard.unindexed.size, shard.count);
      assert.equal(shard.search(randomVectors(random, 1, 8), 5000).length, shard.count, 'unindexed rows are found too');
      assert.equal(shard.indexPending(), 0);
      assert.equal(shard.index.size(), shard.count);
      assert.equal(shard.search(randomVectors(random, 1, 8), 5000).length, shard.count);
      assert.throws(() => shard.search(new Float32Array(8), DEFAULTS.maxK + 1), (e) => (e as VectorgateError).code === '54000');
      assert.throws(() => shard.search(new Float32Array(8), 1, { ef: DEFAULTS.maxEf + 1 }), (e) => (e as VectorgateError).code === '54000');
      assert.throws(() => shard.search(new Float32Array(8), 0), (e) => (e as VectorgateError).code === '22023');
      assert.throws(() => shard.search(new Float32Array(8), 1, { filter: '{"a":' }), (e) => (e as VectorgateError).code === '22023');
    });

    test('filtered search at 1% selectivity returns exactly k rows, equal to exact filtered search', () => {
      const base = readFvecs(join(DATA_DIR, 'siftsmall/base.fvecs'));
      const queries = readFvecs(join(DATA_DIR, 'siftsmall/query.fvecs'), 20);
      const shard = new Shard({ ...spec(engine, 128), efConstruction: 200 }, DEFAULTS);
      const ops: Op[] = [];
      for (let i = 0; i < base.count; i++) {
        ops.push({ op: 'upsert', id: String(i), vector: row(base, i), payload: JSON.stringify({ cat: i % 100, n: i, tag: i % 3 === 0 ? 'x' : 'y' }) });
      }
      shard.apply(1, ops);
      shard.indexPending();
      const cases: [unknown, (i: number) => boolean][] = [
        [{ cat: 7 }, (i) => i % 100 === 7],
        [{ n: { $gte: 5000, $lt: 5100 } }, (i) => i >= 5000 && i < 5100],
        [{ $or: [{ cat: 3 }, { cat: { $in: [4] } }], tag: 'x' }, (i) => (i % 100 === 3 || i % 100 === 4) && i % 3 === 0],
        [{ cat: { $lt: 50 } }, (i) => i % 100 < 50],
      ];
      for (const [filter, keep] of cases) {
        const truth = bruteForce(base, queries, 10, 'l2', keep);
        for (let q = 0; q < queries.count; q++) {
          const hits = shard.search(row(queries, q), 10, { filter });
          assert.equal(hits.length, 10, JSON.stringify(filter));
          assert.ok(hits.every((h) => keep(Number(h.id))));
          if (JSON.stringify(filter).includes('$lt":50')) continue;
          // Equal up to the order of exact ties (siftsmall has integer coordinates): compare distances.
          const want = truth[q]!.map((i) => Math.hypot(...row(base, i).map((x, d) => x - row(queries, q)[d]!)));
          hits.forEach((h, r) => assert.ok(Math.abs(h.distance - want[r]!) < 1e-3, `query ${q} rank ${r} ${JSON.stringify(filter)}`));
        }
      }
      const rare = shard.search(row(queries, 0), 10, { filter: { n: { $in: [1, 2, 3] } } });
      assert.deepEqual(rare.map((h) => h.id).sort(), ['1', '2', '3'], 'fewer matches than k: all of them');
    });
  });
}

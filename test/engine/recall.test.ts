// Recall@10 of both adapters at the default settings on real data (siftsmall L2, a glove-100 subset
// under cosine with ground truth computed here), f16 against f32, and usearch's per-query ef.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type * as UsearchModule from 'usearch';
import { DEFAULTS } from '../../src/config.ts';
import { createIndex } from '../../src/engine/index-factory.ts';
import { UsearchIndex } from '../../src/engine/usearch-index.ts';
import type { EngineKind, IndexSpec, Metric, Quantization, VectorIndex } from '../../src/engine/vector-index.ts';
import { normalizedCopy } from '../../src/engine/vector-math.ts';
import { bruteForce, DATA_DIR, readFvecs, readIvecs, recallAt, row, type VectorSet } from './helpers/data.ts';

const usearch = createRequire(import.meta.url)('usearch') as typeof UsearchModule;
const dir = mkdtempSync(join(tmpdir(), 'vg-recall-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const sift = {
  base: readFvecs(join(DATA_DIR, 'siftsmall/base.fvecs')),
  queries: readFvecs(join(DATA_DIR, 'siftsmall/query.fvecs')),
  truth: readIvecs(join(DATA_DIR, 'siftsmall/gt_l2.ivecs')),
};
const GLOVE_SUBSET = 10_000;
const gloveBase = readFvecs(join(DATA_DIR, 'glove-100/base.fvecs'), GLOVE_SUBSET);
const gloveQueries = readFvecs(join(DATA_DIR, 'glove-100/query.fvecs'), 100);
const glove = { base: gloveBase, queries: gloveQueries, truth: bruteForce(gloveBase, gloveQueries, 10, 'cosine') };

function build(engine: EngineKind, quantization: Quantization, metric: Metric, base: VectorSet): VectorIndex {
  const spec: IndexSpec = { engine, quantization, metric, dims: base.dims, m: DEFAULTS.defaultM, efConstruction: DEFAULTS.defaultEfConstruction };
  const index = createIndex(spec);
  index.add(Array.from({ length: base.count }, (_, i) => i), base.data);
  return index;
}

function recall(index: VectorIndex, queries: VectorSet, truth: ArrayLike<number>[], ef = DEFAULTS.defaultEfSearch): number {
  const found = [];
  for (let q = 0; q < queries.count; q++) found.push(index.search(row(queries, q), 10, ef).labels);
  return recallAt(10, truth, found);
}

describe('recall@10 at default settings', () => {
  for (const [name, data, metric] of [['siftsmall', sift, 'l2'], ['glove-100 subset', glove, 'cosine']] as const) {
    for (const engine of ['usearch', 'hnswlib'] as const) {
      test(`${engine} on ${name} (${metric})`, (t) => {
        const r = recall(build(engine, 'none', metric, data.base), data.queries, data.truth);
        t.diagnostic(`recall@10 = ${r.toFixed(4)}`);
        assert.ok(r >= 0.95, `recall ${r}`);
      });
    }
    test(`usearch f16 within 0.01 of f32 on ${name}`, (t) => {
      const f32 = recall(build('usearch', 'none', metric, data.base), data.queries, data.truth);
      const f16 = recall(build('usearch', 'f16', metric, data.base), data.queries, data.truth);
      t.diagnostic(`f32 ${f32.toFixed(4)}, f16 ${f16.toFixed(4)}`);
      assert.ok(Math.abs(f32 - f16) <= 0.01, `f32 ${f32} f16 ${f16}`);
    });
  }

  test('usearch per-query ef walks the same graph as an index built with that ef', (t) => {
    const index = build('usearch', 'none', 'cosine', glove.base);
    assert.ok(index instanceof UsearchIndex);
    const path = join(dir, 'glove.usearch');
    index.save(path);
    const perQuery = [16, 32, 64, 128, 256].map((ef) => ({ ef, recall: recall(index, glove.queries, glove.truth, ef) }));
    t.diagnostic(perQuery.map((p) => `ef ${p.ef}: ${p.recall.toFixed(4)}`).join(', '));
    assert.ok(perQuery.at(-1)!.recall > perQuery[0]!.recall, 'a larger ef finds more true neighbours');
    for (const ef of [16, 128]) {
      const fixed = new usearch.Index({ dimensions: 100, metric: usearch.MetricKind.IP, quantization: usearch.ScalarKind.F32, connectivity: DEFAULTS.defaultM, expansion_add: DEFAULTS.defaultEfConstruction, expansion_search: ef, multi: false });
      fixed.view(path);
      for (let q = 0; q < glove.queries.count; q++) {
        const query = row(glove.queries, q);
        const want = Array.from(fixed.search(normalizedCopy(query, 100), 10, 1).keys, Number);
        assert.deepEqual(index.search(query, 10, ef).labels, want, `query ${q} at ef ${ef}`);
      }
    }
  });
});

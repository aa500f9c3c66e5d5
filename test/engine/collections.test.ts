// The Collections facade end to end: shard workers, routing, fan-out and merge, errors, persistence.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeConfig } from '../../src/config.ts';
import { VectorgateError } from '../../src/errors.ts';
import { Collections } from '../../src/router/collections.ts';
import type { DatabaseCollections } from '../../src/router/database-collections.ts';
import { fnv1a, shardOf } from '../../src/router/router.ts';
import { bruteForce, DATA_DIR, readFvecs, readIvecs, recallAt, row } from './helpers/data.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-collections-'));
after(() => rmSync(root, { recursive: true, force: true }));
const config = (dir: string) => makeConfig({ dataDir: dir, shardWorkers: 2, maxBatchRows: 20_000 });

async function code(promise: Promise<unknown>): Promise<string> {
  try { await promise; return 'ok'; } catch (e) { if (e instanceof VectorgateError) return e.code; throw e; }
}

describe('routing', () => {
  test('FNV-1a of the UTF-8 id is stable', () => {
    assert.equal(fnv1a(''), 0x811c9dc5);
    assert.equal(fnv1a('a'), 0xe40c292c);
    assert.equal(fnv1a('foobar'), 0xbf9cf968);
    assert.equal(shardOf('foobar', 7), 0xbf9cf968 % 7);
  });
});

describe('collections per database', () => {
  test('the same name in two databases is two collections; other databases neither see nor reach them', async () => {
    const dir = join(root, 'databases');
    const all = await Collections.open(dir, makeConfig({ dataDir: dir, shardWorkers: 1, maxCollections: 3 }));
    try {
      const app = all.in('app');
      const shop = all.in('shop');
      const other = all.in('other');
      await app.createCollection({ name: 'docs', dims: 2, shards: 2, owner: 'alice' });
      await shop.createCollection({ name: 'docs', dims: 3, owner: 'bob' });
      await app.upsert('docs', [{ id: 'a', vector: [1, 0], payload: { in: 'app' } }]);
      await shop.upsert('docs', [{ id: 'a', vector: [0, 0, 1], payload: { in: 'shop' } }, { id: 'b', vector: [1, 1, 1] }]);

      assert.equal((await app.get('docs', 'a'))!.payload, '{"in":"app"}');
      assert.equal((await shop.get('docs', 'a'))!.payload, '{"in":"shop"}');
      assert.deepEqual((await app.listCollections()).map((c) => [c.name, c.database, c.owner, c.dims, c.vectors]), [['docs', 'app', 'alice', 2, 1]]);
      assert.deepEqual((await shop.listCollections()).map((c) => [c.name, c.database, c.owner, c.dims, c.vectors]), [['docs', 'shop', 'bob', 3, 2]]);
      assert.deepEqual(await other.listCollections(), []);
      assert.deepEqual([app.spec('docs')?.owner, shop.spec('docs')?.owner, other.spec('docs')], ['alice', 'bob', undefined]);

      const missing = async (promise: Promise<unknown>) => {
        await assert.rejects(promise, (e) => e instanceof VectorgateError && e.code === '42P01' && e.message === 'collection "docs" does not exist');
      };
      await missing(other.search('docs', [1, 0], 1));
      await missing(other.get('docs', 'a'));
      await missing(other.upsert('docs', [{ id: 'x', vector: [1, 0] }]));
      await missing(other.delete('docs', ['a']));
      await missing(other.setPolicy('docs', 'ef_search', '10'));
      await missing(other.snapshot('docs'));
      await missing(other.usage('docs'));
      await missing(other.dropCollection('docs'));
      assert.throws(() => other.policies('docs'), (e) => e instanceof VectorgateError && e.code === '42P01');

      await shop.setPolicy('docs', 'ef_search', '99');
      assert.deepEqual([app.policies('docs'), shop.policies('docs')], [{}, { ef_search: '99' }]);
      await other.createCollection({ name: 'notes', dims: 2, owner: 'carol' });
      await assert.rejects(app.createCollection({ name: 'more', dims: 2, owner: 'alice' }),
        (e) => e instanceof VectorgateError && e.code === '54000', 'maxCollections counts every database');
      await app.dropCollection('docs');
      assert.equal((await shop.search('docs', [0, 0, 1], 1))[0]!.id, 'a', 'dropping one database\'s docs leaves the other\'s');
      await app.createCollection({ name: 'docs', dims: 2, owner: 'alice' });
      assert.equal(await app.get('docs', 'a'), null, 'the re-created collection starts empty');
    } finally {
      await all.close();
    }
  });
});

describe('collections', () => {
  const dir = join(root, 'main');
  let all: Collections;
  let db: DatabaseCollections;
  before(async () => { all = await Collections.open(dir, config(dir)); db = all.in('app'); });
  after(async () => { await all?.close(); });

  test('create, list, errors with their SQLSTATEs', async () => {
    await db.createCollection({ name: 'docs', dims: 3, metric: 'cosine', shards: 3, owner: 'alice' });
    assert.equal(await code(db.createCollection({ name: 'docs', dims: 3, owner: 'alice' })), '42710');
    assert.equal(await code(db.createCollection({ name: 'bad name', dims: 3, owner: 'alice' })), '22023');
    assert.equal(await code(db.createCollection({ name: 'x', dims: 3, metric: 'hamming' as 'l2', owner: 'alice' })), '22023');
    assert.equal(await code(db.createCollection({ name: 'x', dims: 3, engine: 'hnswlib', quantization: 'f16', owner: 'alice' })), '22023');
    assert.equal(await code(db.createCollection({ name: 'x', dims: 100_000, owner: 'alice' })), '54000');
    assert.equal(await code(db.search('nope', [1, 2, 3], 1)), '42P01');
    assert.equal(await code(db.upsert('nope', [])), '42P01');
    assert.equal(await code(db.upsert('docs', [{ id: 'a', vector: [1, 2] }])), '22000');
    assert.equal(await code(db.upsert('docs', [{ id: 'a', vector: [1, NaN, 2] }])), '22000');
    assert.equal(await code(db.upsert('docs', [{ id: 'a', vector: [1, 2, 3], payload: { big: 'x'.repeat(70_000) } }])), '54000');
    assert.equal(await code(db.upsert('docs', Array.from({ length: 20_001 }, (_, i) => ({ id: `${i}`, vector: [1, 2, 3] })))), '54000');
    assert.equal(await code(db.search('docs', [1, 2, 3], 100_000)), '54000');
    assert.equal(await code(db.search('docs', [1, 2], 1)), '22000');
    assert.equal(await code(db.search('docs', [1, 2, 3], 1, { filter: { $bogus: 1 } })), '22023');
    assert.equal(await code(db.setPolicy('docs', 'no_such_policy', 'x')), '22023');
    assert.equal(await code(db.setPolicy('docs', 'ef_search', 'many')), '22023');
    assert.equal(await code(db.setPolicy('docs', 'read_consistency', 'sometimes')), '22023');
    const [info] = await db.listCollections();
    assert.deepEqual({ ...info, createdAt: '' }, {
      name: 'docs', dims: 3, metric: 'cosine', shards: 3, replicas: 1, quantization: 'none', m: 16, efConstruction: 200,
      engine: 'usearch', owner: 'alice', database: 'app', createdAt: '', policies: {}, vectors: 0, indexedVectors: 0,
    });
  });

  test('upsert, get, search with filter, delete, across shards', async () => {
    const rows = Array.from({ length: 300 }, (_, i) => ({ id: `doc-${i}`, vector: [1, i / 300, (i % 7) / 7 + 0.01], payload: { lang: i % 3 === 0 ? 'en' : 'de', i } }));
    const ack = await db.upsert('docs', rows);
    assert.equal(ack.rows, 300);
    assert.equal(Object.keys(ack.positions).length, 3, 'rows spread over all shards');
    assert.deepEqual(await db.get('docs', 'doc-5'), { id: 'doc-5', vector: Float32Array.of(1, 5 / 300, 5 / 7 + 0.01), payload: '{"lang":"de","i":5}' });
    const hits = await db.search('docs', [1, 0.5, 0.3], 10, { filter: '{"lang":"en"}' });
    assert.equal(hits.length, 10);
    assert.ok(hits.every((h) => JSON.parse(h.payload!).lang === 'en'));
    for (let i = 1; i < hits.length; i++) assert.ok(hits[i]!.distance >= hits[i - 1]!.distance);
    await db.delete('docs', ['doc-5', 'doc-6', 'nope']);
    assert.equal(await db.get('docs', 'doc-5'), null);
    await db.upsert('docs', [{ id: 'doc-7', vector: [0, 0, 1], payload: '{"lang":"fr"}' }]);
    assert.deepEqual((await db.search('docs', [0, 0, 1], 1))[0]!.id, 'doc-7');
    assert.equal((await db.listCollections())[0]!.vectors, 298);
    await db.setPolicy('docs', 'ef_search', '200');
    assert.deepEqual(db.policies('docs'), { ef_search: '200' });
  });

  test('state survives close and reopen; drop removes the collection', async () => {
    const query = [1, 0.2, 0.4];
    const before = await db.search('docs', query, 20);
    await db.snapshot('docs');
    await db.upsert('docs', [{ id: 'after-snapshot', vector: [1, 0.2, 0.4], payload: null }]);
    await all.close();
    all = await Collections.open(dir, config(dir));
    db = all.in('app');
    assert.deepEqual(db.policies('docs'), { ef_search: '200' });
    const again = await db.search('docs', query, 21);
    assert.equal(again[0]!.id, 'after-snapshot');
    assert.deepEqual(again.slice(1).map((h) => h.id), before.map((h) => h.id));
    await db.dropCollection('docs');
    assert.equal(await code(db.get('docs', 'doc-1')), '42P01');
    await db.createCollection({ name: 'docs', dims: 2, owner: 'alice' });
    assert.equal(await db.get('docs', 'doc-1'), null, 'a re-created collection starts empty');
  });
});

describe('bounded worker queues', () => {
  test('requests past in-flight + queued limits fail with 53400 instead of queueing without bound', async () => {
    const dir = join(root, 'queue');
    const all = await Collections.open(dir, makeConfig({ dataDir: dir, shardHost: 'threads', shardWorkers: 1, workerMaxInflight: 1, workerMaxQueued: 2 }));
    const db = all.in('app');
    try {
      await db.createCollection({ name: 'q', dims: 64, owner: 'alice' });
      await db.upsert('q', Array.from({ length: 2000 }, (_, i) => ({ id: String(i), vector: Array.from({ length: 64 }, (_, d) => Math.sin(i * d)) })));
      // Distinct queries: identical ones in flight would share one execution (coalescing).
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => code(db.search('q', new Array(64).fill(0.5 + i / 100), 100, { ef: 500 }))));
      assert.equal(results.filter((r) => r === 'ok').length, 3);
      assert.equal(results.filter((r) => r === '53400').length, 5);
      assert.equal(await code(db.search('q', new Array(64).fill(0.5), 10)), 'ok', 'the queue drains');
    } finally {
      await all.close();
    }
  });
});

describe('recall@10 with several shards', () => {
  const sift = {
    base: readFvecs(join(DATA_DIR, 'siftsmall/base.fvecs')),
    queries: readFvecs(join(DATA_DIR, 'siftsmall/query.fvecs')),
    truth: readIvecs(join(DATA_DIR, 'siftsmall/gt_l2.ivecs')),
  };
  const gloveBase = readFvecs(join(DATA_DIR, 'glove-100/base.fvecs'), 5000);
  const gloveQueries = readFvecs(join(DATA_DIR, 'glove-100/query.fvecs'), 50);
  const glove = { base: gloveBase, queries: gloveQueries, truth: bruteForce(gloveBase, gloveQueries, 10, 'cosine') };

  for (const engine of ['usearch', 'hnswlib'] as const) {
    for (const [name, data, metric, shards] of [['siftsmall', sift, 'l2', 4], ['glove-100 subset', glove, 'cosine', 3]] as const) {
      test(`${engine}, ${shards} shards, ${name}`, async (t) => {
        const dir = join(root, `recall-${engine}-${metric}`);
        const all = await Collections.open(dir, config(dir));
        const db = all.in('app');
        try {
          await db.createCollection({ name: 'c', dims: data.base.dims, metric, shards, engine, owner: 'alice' });
          const rows = Array.from({ length: data.base.count }, (_, i) => ({ id: String(i), vector: row(data.base, i) }));
          for (let i = 0; i < rows.length; i += 2500) await db.upsert('c', rows.slice(i, i + 2500));
          const found = [];
          for (let q = 0; q < data.queries.count; q++) found.push((await db.search('c', row(data.queries, q), 10)).map((h) => Number(h.id)));
          const recall = recallAt(10, data.truth, found);
          t.diagnostic(`recall@10 = ${recall.toFixed(4)}`);
          assert.ok(recall >= 0.95, `recall ${recall}`);
        } finally {
          await all.close();
        }
      });
    }
  }
});

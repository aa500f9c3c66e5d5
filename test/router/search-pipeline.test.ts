// The search pipeline's parts on their own: the cache is bounded by bytes (least recently used out
// first) and never serves an entry whose key material differs; coalescing runs identical work once,
// lets a waiter leave on its own signal, and is bounded; warmup survives a restart (real Collections
// over a temp dir: the searches saved at close run again once the collections have recovered).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeConfig } from '../../src/config.ts';
import { Collections, WARMUP_FILE } from '../../src/router/collections.ts';
import { SearchCache } from '../../src/router/search-cache.ts';
import { SearchCoalescer } from '../../src/router/search-coalescer.ts';
import { randomVectors, rng } from '../engine/helpers/data.ts';

const rowsOf = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, distance: i / 10, payload: '{"text":"x"}' }));

describe('SearchCache', () => {
  test('holds at most maxBytes, evicting the least recently used; a hit refreshes recency', () => {
    const cache = new SearchCache(4096, 0);
    const material = (i: number) => Buffer.from(`material-${i}`);
    for (let i = 0; i < 3; i++) cache.set(cache.keyOf(material(i)), material(i), rowsOf(5, `a${i}`));
    assert.ok(cache.get(cache.keyOf(material(0)), material(0)) !== undefined);
    for (let i = 3; i < 40; i++) {
      cache.set(cache.keyOf(material(i)), material(i), rowsOf(5, `a${i}`));
      cache.get(cache.keyOf(material(0)), material(0));
    }
    const stats = cache.stats();
    assert.ok(stats.bytes <= 4096, `${stats.bytes} bytes`);
    assert.ok(stats.evictions > 0);
    assert.deepEqual(cache.get(cache.keyOf(material(0)), material(0))?.[0]?.id, 'a0-0', 'the one kept in use stayed');
    assert.equal(cache.get(cache.keyOf(material(1)), material(1)), undefined, 'an old one left');
  });

  test('an entry whose material differs is a miss, even under the same key; maxAge bounds a hit; an answer larger than the cache is not kept', () => {
    const cache = new SearchCache(1 << 20, 0);
    const key = cache.keyOf(Buffer.from('a'));
    cache.set(key, Buffer.from('a'), rowsOf(1, 'a'));
    assert.equal(cache.get(key, Buffer.from('b')), undefined);
    assert.equal(cache.get(key, Buffer.from('a'), -1), undefined, 'older than a negative age');
    assert.equal(cache.get(key, Buffer.from('a'))?.[0]?.id, 'a-0');
    const small = new SearchCache(1000, 0);
    small.set('big', Buffer.from('big'), rowsOf(100, 'big'));
    assert.equal(small.stats().entries, 0);
    const off = new SearchCache(0, 0);
    off.set(key, Buffer.from('a'), rowsOf(1, 'a'));
    assert.equal(off.get(key, Buffer.from('a')), undefined);
    assert.equal(off.enabled, false);
  });
});

describe('SearchCoalescer', () => {
  test('identical work in flight runs once; every caller gets its answer; different material runs apart', async () => {
    const coalescer = new SearchCoalescer<number>(10, 10);
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const work = async () => { runs++; await gate; return 42; };
    const signal = new AbortController().signal;
    const same = Array.from({ length: 5 }, () => coalescer.run('k', Buffer.from('m'), signal, work));
    const other = coalescer.run('k', Buffer.from('other'), signal, async () => 7);
    release();
    assert.deepEqual(await Promise.all(same), [42, 42, 42, 42, 42]);
    assert.equal(await other, 7);
    assert.equal(runs, 1);
    assert.equal(coalescer.joined, 4);
    assert.equal(coalescer.inFlight, 0);
  });

  test('a waiter whose signal aborts leaves with its reason; the others still get the answer; both bounds hold', async () => {
    const coalescer = new SearchCoalescer<string>(1, 1);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const work = async () => { await gate; return 'done'; };
    const leaving = new AbortController();
    const first = coalescer.run('k', Buffer.from('m'), new AbortController().signal, work);
    const waiter = coalescer.run('k', Buffer.from('m'), leaving.signal, work);
    let ranAlone = 0;
    const pastWaiters = coalescer.run('k', Buffer.from('m'), new AbortController().signal, async () => { ranAlone++; return 'alone'; });
    const pastKeys = coalescer.run('j', Buffer.from('m'), new AbortController().signal, async () => { ranAlone++; return 'alone'; });
    leaving.abort(new Error('canceled by its client'));
    await assert.rejects(waiter, /canceled by its client/);
    release();
    assert.equal(await first, 'done');
    assert.deepEqual([await pastWaiters, await pastKeys], ['alone', 'alone']);
    assert.equal(ranAlone, 2);
  });
});

describe('warmup across a restart', () => {
  test('the searches tracked before a clean shutdown run again after the next start, so the first repeat is a hit', async () => {
    const root = mkdtempSync(join(tmpdir(), 'vectorgate-warmup-'));
    const config = makeConfig({ dataDir: root, shardWorkers: 1 });
    const vectors = randomVectors(rng(12), 500, 8);
    const query = randomVectors(rng(13), 1, 8);
    let all = await Collections.open(root, config);
    try {
      const db = all.in('app');
      await db.createCollection({ name: 'w', dims: 8, owner: 'alice' });
      await db.upsert('w', Array.from({ length: 500 }, (_, i) => ({ id: String(i), vector: vectors.slice(i * 8, (i + 1) * 8) })));
      const answer = await db.search('w', query, 5);
      await db.search('w', query, 5);
      await all.close();
      assert.ok(existsSync(join(root, WARMUP_FILE)));
      all = await Collections.open(root, config);
      await all.recovered();
      for (let i = 0; i < 500 && !(all.searchStats().warmup.runs === 1 && all.searchStats().warmup.pending === 0); i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(all.searchStats().warmup.runs, 1);
      const hits = all.searchStats().cache.hits;
      assert.deepEqual(await all.in('app').search('w', query, 5), answer);
      assert.equal(all.searchStats().cache.hits, hits + 1);
    } finally {
      await all.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

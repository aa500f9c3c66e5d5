// One contract for every CatalogStore (src/storage/catalog-store.ts): the local file and the etcd
// keys. Each test gets a fresh, empty location and may open several stores on it; stores that may
// be open at once (etcd: two proxies) race for real, the file is reopened in sequence.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { VectorgateError } from '../../src/errors.ts';
import type { CatalogChange, CatalogStore, NewCollection } from '../../src/storage/catalog-store.ts';

export interface CatalogLocation {
  /** Opens a store on this location (with its own client where there is one). */
  open(): Promise<CatalogStore>;
  /** Whether two stores may be open on it at once (two proxies); else the test closes one first. */
  concurrent: boolean;
  /** Closes every store it opened and removes the location. */
  cleanup(): Promise<void>;
}

export const spec = (name: string, database = 'app', owner = 'alice'): NewCollection =>
  ({ name, dims: 3, metric: 'l2', shards: 2, replicas: 1, quantization: 'none', m: 16, efConstruction: 200, engine: 'usearch', database, owner });

export const withCode = (code: string) => (err: unknown) => err instanceof VectorgateError && err.code === code;

/** A generous bound on waiting for a change, so a store that never delivers fails with a message instead of hanging. */
const CHANGE_WAIT_LIMIT_MS = 60_000;

/** Resolves with the first change the store's watch delivers that matches. */
export function nextChange(store: CatalogStore, matches: (change: CatalogChange) => boolean): Promise<CatalogChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`the watch delivered no matching change within ${CHANGE_WAIT_LIMIT_MS} ms`));
    }, CHANGE_WAIT_LIMIT_MS);
    const stop = store.watch((change) => {
      if (!matches(change)) return;
      stop();
      clearTimeout(timer);
      resolve(change);
    });
  });
}

const brief = (c: CatalogChange) => `${c.kind} ${c.entry.database}/${c.entry.name} ${JSON.stringify(c.entry.policies)}`;

export function catalogStoreContract(name: string, makeLocation: () => Promise<CatalogLocation>): void {
  describe(`CatalogStore contract: ${name}`, () => {
    const withLocation = async (body: (location: CatalogLocation) => Promise<void>) => {
      const location = await makeLocation();
      try { await body(location); } finally { await location.cleanup(); }
    };

    test('prepare gives a directory and adds nothing; commit adds it durably; a taken name is 42710', () => withLocation(async (location) => {
      const store = await location.open();
      const entry = store.prepare(spec('docs'), new Date('2026-12-02T00:00:00Z'));
      assert.equal(entry.createdAt, '2026-12-02T00:00:00.000Z');
      assert.match(entry.dir, /^docs-/);
      assert.deepEqual(entry.policies, {});
      assert.equal(store.get('app', 'docs'), undefined, 'prepared, not yet in the catalog');
      assert.deepEqual(await store.commit(entry), entry);
      assert.deepEqual(store.get('app', 'docs'), entry);
      assert.throws(() => store.prepare(spec('docs')), withCode('42710'));
      const again = { ...entry, dir: 'docs-other' };
      await assert.rejects(store.commit(again), withCode('42710'));
      assert.equal(store.get('app', 'docs')?.dir, entry.dir, 'the first entry stays');
    }));

    test('two stores committing the same name: exactly one wins, the other gets 42710', () => withLocation(async (location) => {
      const a = await location.open();
      const first = a.prepare(spec('docs'));
      if (location.concurrent) {
        const b = await location.open();
        const second = b.prepare(spec('docs'));
        const results = await Promise.allSettled([a.commit(first), b.commit(second)]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        assert.equal(won.length, 1, 'one commit succeeded');
        assert.equal(lost.length, 1);
        assert.ok(withCode('42710')(lost[0]!.reason), String(lost[0]!.reason));
        const winner = results[0]!.status === 'fulfilled' ? first : second;
        const loser = winner === first ? b : a;
        if (loser.get('app', 'docs') === undefined) await nextChange(loser, (c) => c.entry.name === 'docs');
        assert.equal(a.get('app', 'docs')?.dir, winner.dir);
        assert.equal(b.get('app', 'docs')?.dir, winner.dir);
      } else {
        const second = { ...a.prepare(spec('docs')), dir: 'docs-second' };
        await a.commit(first);
        await a.close();
        const b = await location.open();
        await assert.rejects(b.commit(second), withCode('42710'));
        assert.equal(b.get('app', 'docs')?.dir, first.dir);
      }
    }));

    test('remove deletes durably; removing what is not there is 42P01', () => withLocation(async (location) => {
      const store = await location.open();
      const entry = await store.commit(store.prepare(spec('docs')));
      assert.deepEqual(await store.remove('app', 'docs'), entry);
      assert.equal(store.get('app', 'docs'), undefined);
      await assert.rejects(store.remove('app', 'docs'), withCode('42P01'));
      await assert.rejects(store.remove('app', 'never'), withCode('42P01'));
    }));

    test('setPolicy sets, replaces and (null) removes one policy; an unknown collection is 42P01', () => withLocation(async (location) => {
      const store = await location.open();
      await store.commit(store.prepare(spec('docs')));
      assert.deepEqual((await store.setPolicy('app', 'docs', 'ef_search', '64')).policies, { ef_search: '64' });
      await store.setPolicy('app', 'docs', 'read_consistency', 'session');
      assert.deepEqual((await store.setPolicy('app', 'docs', 'ef_search', '99')).policies, { ef_search: '99', read_consistency: 'session' });
      assert.deepEqual((await store.setPolicy('app', 'docs', 'ef_search', null)).policies, { read_consistency: 'session' });
      assert.deepEqual(store.get('app', 'docs')?.policies, { read_consistency: 'session' });
      await assert.rejects(store.setPolicy('app', 'none', 'ef_search', '1'), withCode('42P01'));
    }));

    test('list is by database, then name; listIn is one database by name', () => withLocation(async (location) => {
      const store = await location.open();
      for (const [database, name] of [['shop', 'b'], ['app', 'c'], ['shop', 'a'], ['app', 'a']] as const) {
        await store.commit(store.prepare(spec(name, database)));
      }
      assert.deepEqual(store.list().map((e) => `${e.database}/${e.name}`), ['app/a', 'app/c', 'shop/a', 'shop/b']);
      assert.deepEqual(store.listIn('shop').map((e) => e.name), ['a', 'b']);
      assert.deepEqual(store.listIn('none'), []);
    }));

    test('the same name in two databases is two collections, each with its own directory', () => withLocation(async (location) => {
      const store = await location.open();
      const inApp = await store.commit(store.prepare(spec('docs', 'app', 'alice')));
      const inShop = await store.commit(store.prepare(spec('docs', 'shop', 'bob')));
      assert.notEqual(inApp.dir, inShop.dir);
      assert.equal(store.get('shop', 'docs')?.owner, 'bob');
      await store.setPolicy('shop', 'docs', 'ef_search', '10');
      assert.deepEqual(store.get('app', 'docs')?.policies, {});
      await store.remove('app', 'docs');
      assert.equal(store.get('shop', 'docs')?.dir, inShop.dir);
    }));

    test('watch sees each change once, in order, until unsubscribed', () => withLocation(async (location) => {
      const store = await location.open();
      const seen: string[] = [];
      const stop = store.watch((change) => seen.push(brief(change)));
      await store.commit(store.prepare(spec('a')));
      await store.commit(store.prepare(spec('b', 'shop')));
      await store.setPolicy('app', 'a', 'ef_search', '40');
      await store.remove('shop', 'b');
      assert.deepEqual(seen, ['put app/a {}', 'put shop/b {}', 'put app/a {"ef_search":"40"}', 'delete shop/b {}']);
      stop();
      await store.commit(store.prepare(spec('c')));
      assert.equal(seen.length, 4, 'nothing after unsubscribing');
    }));

    test('everything is durable across a reopen', () => withLocation(async (location) => {
      const store = await location.open();
      await store.commit(store.prepare(spec('a')));
      await store.commit(store.prepare(spec('b', 'shop')));
      await store.commit(store.prepare(spec('gone')));
      await store.setPolicy('app', 'a', 'ef_search', '40');
      await store.remove('app', 'gone');
      const before = store.list();
      await store.close();
      const reopened = await location.open();
      assert.deepEqual(reopened.list(), before);
      assert.equal(reopened.get('app', 'a')?.replicas, 1);
    }));
  });
}

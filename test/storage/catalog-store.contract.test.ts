// The CatalogStore contract against the local file catalog (temp dir) and the etcd catalog (one real
// etcd member), and what only the etcd one does: another proxy's changes arrive through the watch,
// and a store whose watch is cut catches up by listing again.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { EtcdMembers } from '../../src/cluster/etcd-members.ts';
import { freePort } from '../../src/cli/postgres-server.ts';
import { makeConfig } from '../../src/config.ts';
import { Catalog } from '../../src/storage/catalog.ts';
import type { CatalogStore } from '../../src/storage/catalog-store.ts';
import { createEtcdClient } from '../../src/storage/etcd-client.ts';
import { EtcdCatalogStore } from '../../src/storage/etcd-catalog.ts';
import { startCuttableRelay } from '../helpers/cuttable-relay.ts';
import { catalogStoreContract, nextChange, spec, withCode, type CatalogLocation } from './catalog-store-contract.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-catalog-store-'));
let members: EtcdMembers;
before(async () => { members = await EtcdMembers.start({ count: 1, dir: join(root, 'etcd') }); });
after(async () => {
  await members?.stop();
  rmSync(root, { recursive: true, force: true });
});

const MIGRATION = { database: 'vectorgate', owner: 'vectorgate' };
let locations = 0;

catalogStoreContract('Catalog (file)', async () => {
  const dir = join(root, `file-${++locations}`);
  const opened: CatalogStore[] = [];
  return {
    concurrent: false,
    open: async () => {
      const store = await Catalog.open(dir, MIGRATION);
      opened.push(store);
      return store;
    },
    cleanup: async () => {
      for (const store of opened) await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

/** Each location is its own key prefix; each store its own client (as two proxies would have). */
function etcdLocation(): CatalogLocation & { clients: Etcd3[]; prefix: string } {
  const config = makeConfig({ etcdPrefix: `/test-${++locations}/`, etcdCallTimeoutMs: 5_000, etcdWatchRetryMs: 50 });
  const clients: Etcd3[] = [];
  const stores: CatalogStore[] = [];
  return {
    concurrent: true,
    clients,
    prefix: config.etcdPrefix,
    open: async () => {
      const client = createEtcdClient({ endpoints: members.endpoints, callTimeoutMs: config.etcdCallTimeoutMs, maxReceiveBytes: 64 * 1024 * 1024 }).client;
      clients.push(client);
      const store = await EtcdCatalogStore.open({ client, endpoints: members.endpoints, config });
      stores.push(store);
      return store;
    },
    cleanup: async () => {
      for (const store of stores) await store.close();
      for (const client of clients) client.close();
    },
  };
}

catalogStoreContract('EtcdCatalogStore (1 etcd member)', async () => etcdLocation());

describe('EtcdCatalogStore across proxies', () => {
  test('a second store sees the first store\'s changes through its watch, in memory', async () => {
    const location = etcdLocation();
    try {
      const a = await location.open();
      const b = await location.open();
      const arrived = nextChange(b, (c) => c.kind === 'put' && c.entry.name === 'docs');
      const entry = await a.commit(a.prepare(spec('docs')));
      assert.deepEqual((await arrived).entry, entry);
      assert.deepEqual(b.get('app', 'docs'), entry);
      assert.throws(() => b.prepare(spec('docs')), withCode('42710'), 'b knows the name is taken');
      const policy = nextChange(b, (c) => c.entry.policies.ef_search === '77');
      await a.setPolicy('app', 'docs', 'ef_search', '77');
      await policy;
      const removed = nextChange(a, (c) => c.kind === 'delete');
      await b.remove('app', 'docs');
      assert.equal((await removed).entry.dir, entry.dir);
      assert.equal(a.get('app', 'docs'), undefined);
    } finally {
      await location.cleanup();
    }
  });

  test('policy changes from two stores at once both land (guarded by the key\'s revision, retried)', async () => {
    const location = etcdLocation();
    try {
      const a = await location.open();
      const b = await location.open();
      await a.commit(a.prepare(spec('docs')));
      if (b.get('app', 'docs') === undefined) await nextChange(b, (c) => c.entry.name === 'docs');
      const names = Array.from({ length: 6 }, (_, i) => `p${i}`);
      await Promise.all(names.map((name, i) => (i % 2 === 0 ? a : b).setPolicy('app', 'docs', name, String(i))));
      const reopened = await location.open();
      assert.deepEqual(Object.keys(reopened.get('app', 'docs')!.policies).sort(), names);
    } finally {
      await location.cleanup();
    }
  });

  test('two stores dropping one collection at once: it is gone from both, neither fails otherwise than 42P01', async () => {
    const location = etcdLocation();
    try {
      const a = await location.open();
      const b = await location.open();
      const arrived = nextChange(b, (c) => c.entry.name === 'docs');
      await a.commit(a.prepare(spec('docs')));
      await arrived;
      const results = await Promise.allSettled([a.remove('app', 'docs'), b.remove('app', 'docs')]);
      assert.ok(results.some((r) => r.status === 'fulfilled'));
      for (const r of results) if (r.status === 'rejected') assert.ok(withCode('42P01')(r.reason), String(r.reason));
      assert.equal(a.get('app', 'docs'), undefined);
      assert.equal(b.get('app', 'docs'), undefined);
    } finally {
      await location.cleanup();
    }
  });

  test('a store whose watch is cut (the etcd member restarts) lists again and catches up', async () => {
    const location = etcdLocation();
    try {
      const watcher = await location.open();
      const seen: string[] = [];
      watcher.watch((c) => seen.push(`${c.kind} ${c.entry.name}`));
      await members.kill(0);
      members.restart(0);
      await members.waitHealthy(20_000);
      // A proxy that starts after the restart makes the change the cut store must learn of.
      const writer = await location.open();
      const arrived = nextChange(watcher, (c) => c.entry.name === 'after');
      const entry = await writer.commit(writer.prepare(spec('after')));
      await arrived;
      assert.deepEqual(watcher.get('app', 'after'), entry);
      assert.deepEqual(seen, ['put after'], 'seen once');
    } finally {
      await location.cleanup();
    }
  });

  test('a store cut off while another changes the catalog and etcd compacts past it lists again and catches up, each change once', async () => {
    const relay = await startCuttableRelay(Number(new URL(members.endpoints[0]!).port));
    const config = makeConfig({ etcdPrefix: `/test-${++locations}/`, etcdWatchRetryMs: 50 });
    const writerClient = createEtcdClient({ endpoints: members.endpoints, callTimeoutMs: config.etcdCallTimeoutMs, maxReceiveBytes: 64 * 1024 * 1024 }).client;
    const cutClient = createEtcdClient({ endpoints: [relay.url], callTimeoutMs: config.etcdCallTimeoutMs, maxReceiveBytes: 64 * 1024 * 1024 }).client;
    const stores: CatalogStore[] = [];
    try {
      const writer = await EtcdCatalogStore.open({ client: writerClient, endpoints: members.endpoints, config });
      const cut = await EtcdCatalogStore.open({ client: cutClient, endpoints: [relay.url], config });
      stores.push(writer, cut);
      const bothThere = nextChange(cut, (c) => c.entry.name === 'goes');
      await writer.commit(writer.prepare(spec('stays')));
      await writer.commit(writer.prepare(spec('goes')));
      await bothThere;
      const seen: string[] = [];
      cut.watch((c) => seen.push(`${c.kind} ${c.entry.name} ${JSON.stringify(c.entry.policies)}`));
      relay.block();
      await writer.remove('app', 'goes');
      await writer.commit(writer.prepare(spec('added')));
      await writer.setPolicy('app', 'stays', 'ef_search', '5');
      // Compacted: a watch resumed from the cut store's last revision cannot be served any more.
      await writerClient.kv.compact({ revision: writer.revision.toString(), physical: true });
      const caughtUp = nextChange(cut, (c) => c.entry.name === 'stays');
      relay.restore();
      await caughtUp;
      assert.deepEqual(cut.list(), writer.list());
      assert.deepEqual(seen.sort(), ['delete goes {}', 'put added {}', 'put stays {"ef_search":"5"}']);
    } finally {
      for (const store of stores) await store.close();
      writerClient.close();
      cutClient.close();
      await relay.stop();
    }
  });

  test('a key that holds no entry: open is XX001 naming it; a running store keeps what it had and reads it once it is fixed', async () => {
    const location = etcdLocation();
    try {
      const store = await location.open();
      const entry = await store.commit(store.prepare(spec('docs')));
      const raw = location.clients[0]!;
      const key = `${location.prefix}catalog/app/docs`;
      await raw.put(key).value('{not json');
      await assert.rejects(location.open(), (err: unknown) => {
        assert.ok(withCode('XX001')(err), String(err));
        assert.match((err as Error).message, /catalog entry .*catalog\/app\/docs is unreadable/);
        return true;
      });
      assert.deepEqual(store.get('app', 'docs'), entry, 'the running store kept the last readable entry');
      const fixed = nextChange(store, (c) => c.entry.policies.ef_search === '12');
      await raw.put(key).value(JSON.stringify({ ...entry, policies: { ef_search: '12' } }));
      await fixed;
      assert.deepEqual(store.get('app', 'docs')?.policies, { ef_search: '12' });
    } finally {
      await location.cleanup();
    }
  });

  test('etcd that does not answer is 08006 naming the endpoint, within the call deadline', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const config = makeConfig({ etcdPrefix: '/none/', etcdCallTimeoutMs: 300 });
    const client = createEtcdClient({ endpoints: [endpoint], callTimeoutMs: config.etcdCallTimeoutMs, maxReceiveBytes: 64 * 1024 * 1024 }).client;
    try {
      await assert.rejects(EtcdCatalogStore.open({ client, endpoints: [endpoint], config }), (err: unknown) => {
        assert.ok(withCode('08006')(err), String(err));
        assert.match((err as Error).message, /etcd is unreachable/);
        assert.match(String((err as { detail?: string }).detail), new RegExp(endpoint));
        return true;
      });
    } finally {
      client.close();
    }
  });
});

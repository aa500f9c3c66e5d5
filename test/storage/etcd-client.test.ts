// The etcd client against 3 real members with one of them down: etcd3 sends each call to one member
// it picks, and with its own retries off a call to the dead member would fail although a quorum is
// up. withDeadline sends a call that never left this process again, so every call succeeds — plain
// puts included, which are safe to resend only because they were never sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withDeadline } from '../../src/storage/etcd-client.ts';
import { useEtcd } from '../helpers/etcd-fixture.ts';


const fx = useEtcd(3, 5000);

test('with one member of three down, every call succeeds and each put is applied once', async () => {
  const leader = (await fx.etcd.leader())!;
  await fx.etcd.kill((leader + 1) % 3);
  for (let i = 0; i < 60; i++) {
    await withDeadline(fx.conn, 5000, 'put', (options) => fx.conn.client.put(`/client/k${i}`).value(String(i)).options(options).exec());
    const value = await withDeadline(fx.conn, 5000, 'get', (options) => fx.conn.client.get(`/client/k${i}`).options(options).string());
    assert.equal(value, String(i));
  }
  const all = await withDeadline(fx.conn, 5000, 'count', (options) => fx.conn.client.getAll().prefix('/client/').options(options).count());
  assert.equal(all, 60);
  const history = await withDeadline(fx.conn, 5000, 'range', (options) => fx.conn.client.kv.range({ key: Buffer.from('/client/k0') }, options));
  assert.equal(history.kvs[0]?.version, '1', 'the put was applied once');
});

// The etcd client against 3 real members with one of them down: etcd3 sends each call to one member
// it picks, and with its own retries off a call to the dead member would fail although a quorum is
// up. withDeadline sends a call that never left this process again, so every call succeeds — plain
// puts included, which are safe to resend only because they were never sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdMembers } from '../../src/cluster/etcd-members.ts';
import { createEtcdClient, withDeadline, type EtcdConnection } from '../../src/storage/etcd-client.ts';

let dir: string;
let etcd: EtcdMembers;
let conn: EtcdConnection;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vectorgate-etcd-client-'));
  etcd = await EtcdMembers.start({ count: 3, dir });
  conn = createEtcdClient({ endpoints: etcd.endpoints, maxReceiveBytes: 1024 * 1024, callTimeoutMs: 5000 });
});
after(async () => {
  conn?.client.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('with one member of three down, every call succeeds and each put is applied once', async () => {
  const leader = (await etcd.leader())!;
  await etcd.kill((leader + 1) % 3);
  for (let i = 0; i < 60; i++) {
    await withDeadline(conn, 5000, 'put', (options) => conn.client.put(`/client/k${i}`).value(String(i)).options(options).exec());
    const value = await withDeadline(conn, 5000, 'get', (options) => conn.client.get(`/client/k${i}`).options(options).string());
    assert.equal(value, String(i));
  }
  const all = await withDeadline(conn, 5000, 'count', (options) => conn.client.getAll().prefix('/client/').options(options).count());
  assert.equal(all, 60);
  const history = await withDeadline(conn, 5000, 'range', (options) => conn.client.kv.range({ key: Buffer.from('/client/k0') }, options));
  assert.equal(history.kvs[0]?.version, '1', 'the put was applied once');
});

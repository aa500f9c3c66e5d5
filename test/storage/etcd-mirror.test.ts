// EtcdMirror against a real etcd: it lists a prefix, follows puts and deletes of any client in order,
// ignores other prefixes, and after its member restarts (the watch breaks) re-lists and reports what
// changed meanwhile — changes are never lost to etcd3's own watch resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEtcdClient } from '../../src/storage/etcd-client.ts';
import { EtcdMirror, type MirrorChange } from '../../src/storage/etcd-mirror.ts';
import { useEtcd } from '../helpers/etcd-fixture.ts';


const fx = useEtcd(1, 3000);

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a mirror holds the prefix, follows every put and delete in order, and nothing outside it', async () => {
  await fx.conn.client.put('/t1/a').value('1');
  const mirror = await EtcdMirror.open({ conn: fx.conn, prefix: '/t1/', callTimeoutMs: 3000, retryMs: 50 });
  const seen: MirrorChange[] = [];
  mirror.onChange((changes) => seen.push(...changes));
  try {
    assert.equal(mirror.get('a')?.toString(), '1');
    await fx.conn.client.put('/t1/b').value('2');
    await fx.conn.client.put('/t1/a').value('3');
    await fx.conn.client.put('/t10').value('outside');
    await fx.conn.client.delete().key('/t1/b');
    await until(() => seen.length === 3, 'three changes');
    assert.deepEqual(seen.map((c) => [c.kind, c.key, c.value.toString()]), [['put', 'b', '2'], ['put', 'a', '3'], ['delete', 'b', '2']]);
    assert.deepEqual([...mirror.entries()].map(([k, v]) => [k, v.toString()]), [['a', '3']]);
  } finally {
    await mirror.close();
  }
});

test('after its etcd member restarts, a mirror re-lists and reports the changes it missed', async () => {
  const mirror = await EtcdMirror.open({ conn: fx.conn, prefix: '/t2/', callTimeoutMs: 3000, retryMs: 50 });
  const seen: MirrorChange[] = [];
  mirror.onChange((changes) => seen.push(...changes));
  try {
    await fx.etcd.kill(0);
    fx.etcd.restart(0);
    await fx.etcd.waitHealthy(15_000);
    const writer = createEtcdClient({ endpoints: fx.etcd.endpoints, maxReceiveBytes: 1024 * 1024, callTimeoutMs: 3000 });
    try {
      for (let i = 0; i < 50; i++) await writer.client.put(`/t2/k${i}`).value(String(i));
      await writer.client.delete().key('/t2/k7');
    } finally {
      writer.client.close();
    }
    await until(() => mirror.size === 49, '49 keys');
    assert.equal(mirror.get('k49')?.toString(), '49');
    assert.equal(mirror.get('k7'), undefined);
    const puts = new Set(seen.filter((c) => c.kind === 'put').map((c) => c.key));
    assert.equal(puts.size, 50, 'every key was reported put once at least');
  } finally {
    await mirror.close();
  }
});

test('keys put in one transaction (one revision) all reach the mirror', async () => {
  const mirror = await EtcdMirror.open({ conn: fx.conn, prefix: '/t4/', callTimeoutMs: 3000, retryMs: 50 });
  const seen: MirrorChange[] = [];
  mirror.onChange((changes) => seen.push(...changes));
  try {
    await fx.conn.client.kv.txn({ success: ['a', 'b', 'c'].map((k) => ({ request_put: { key: Buffer.from(`/t4/${k}`), value: Buffer.from(k) } })) });
    await until(() => seen.length >= 3, 'three changes');
    assert.deepEqual(seen.map((c) => [c.kind, c.key, c.value.toString()]), [['put', 'a', 'a'], ['put', 'b', 'b'], ['put', 'c', 'c']]);
    assert.equal(mirror.size, 3);
  } finally {
    await mirror.close();
  }
});

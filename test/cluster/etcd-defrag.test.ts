// Defragmentation against 3 real etcd members: after many large keys are written, deleted and
// compacted, each member's file is mostly free pages; defragmentMembers shrinks every member's file,
// one member after another, while the cluster keeps taking writes; a member that is not due is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { defragDue, defragmentMembers } from '../../src/cluster/etcd-defrag.ts';
import { useEtcd } from '../helpers/etcd-fixture.ts';

const log = pino({ level: 'silent' });
const settings = { etcdCallTimeoutMs: 5000, etcdDefragTimeoutMs: 60_000, etcdDefragMinBytes: 4 * 1024 * 1024, etcdDefragFreeRatio: 2 };

const fx = useEtcd(3, 5000);

test('defragDue: only a large file that is mostly free space', () => {
  assert.equal(defragDue(100 * 1024 * 1024, 10 * 1024 * 1024, settings), true);
  assert.equal(defragDue(100 * 1024 * 1024, 80 * 1024 * 1024, settings), false, 'mostly in use');
  assert.equal(defragDue(1024 * 1024, 1024, settings), false, 'too small to bother');
});

test('every member whose file is mostly free pages is defragmented, one at a time, and the file shrinks', async () => {
  assert.deepEqual(await defragmentMembers(fx.conn, settings, log), [], 'a fresh cluster has nothing to defragment');
  const value = Buffer.alloc(256 * 1024, 7);
  for (let i = 0; i < 48; i++) await fx.conn.client.put(`/defrag/k${i}`).value(value);
  await fx.conn.client.delete().prefix('/defrag/');
  const status = await fx.conn.client.maintenance.status();
  await fx.conn.client.kv.compact({ revision: status.header.revision, physical: true });
  // The freed pages count as free on each member once later writes have committed there (bbolt's
  // free list): wait until every member's own status shows it.
  const members = fx.etcd.endpoints.map((url) => new Etcd3({ hosts: [url] }));
  try {
    for (let i = 0; i < 100; i++) {
      await fx.conn.client.put('/defrag/tick').value(String(i));
      const statuses = await Promise.all(members.map((m) => m.maintenance.status()));
      if (statuses.every((s) => defragDue(Number(s.dbSize), Number(s.dbSizeInUse), settings))) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    for (const m of members) m.close();
  }
  const done = await defragmentMembers(fx.conn, settings, log);
  assert.equal(done.length, 3, JSON.stringify(done));
  for (const member of done) assert.ok(member.dbSizeAfter < member.dbSizeBefore / 2, JSON.stringify(member));
  await fx.conn.client.put('/defrag/after').value('still writable');
  assert.equal(await fx.conn.client.get('/defrag/after').string(), 'still writable');
});

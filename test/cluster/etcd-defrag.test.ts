// Defragmentation against 3 real etcd members: after many large keys are written, deleted and
// compacted, each member's file is mostly free pages; defragmentMembers shrinks every member's file,
// one member after another, while the cluster keeps taking writes; a member that is not due is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { defragDue, defragmentMembers, type MemberDefrag } from '../../src/cluster/etcd-defrag.ts';
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
  // free list), and a member that does not answer in time is skipped until the next round: rounds go
  // on until every member was defragmented once (a loaded machine needed more than one).
  const done = new Map<string, MemberDefrag>();
  for (let round = 0; round < 100 && done.size < 3; round++) {
    await fx.conn.client.put('/defrag/tick').value(String(round));
    for (const member of await defragmentMembers(fx.conn, settings, log)) done.set(member.member, member);
    if (done.size < 3) await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(done.size, 3, JSON.stringify([...done.values()]));
  for (const member of done.values()) assert.ok(member.dbSizeAfter < member.dbSizeBefore / 2, JSON.stringify(member));
  await fx.conn.client.put('/defrag/after').value('still writable');
  assert.equal(await fx.conn.client.get('/defrag/after').string(), 'still writable');
});

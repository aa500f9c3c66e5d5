// EtcdWritePath against a real etcd member: a write over several shards returns each shard's last seq
// and lands as records of those shards' logs; committedPositions reads every shard's committed seq;
// a part larger than a record is split into consecutive records of its shard; and while the most
// caught-up replica of a shard is more than clusterMaxUnappliedRecords behind, writes to it get 53400.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeConfig } from '../../src/config.ts';
import { EtcdWritePath } from '../../src/cluster/etcd-write-path.ts';
import { EtcdLogWriter, EtcdShardLog } from '../../src/storage/etcd-log.ts';
import { decodeBody } from '../../src/storage/record-codec.ts';
import type { CollectionEntry } from '../../src/storage/catalog-store.ts';
import type { WritePart } from '../../src/router/write-path.ts';
import { useEtcd } from '../helpers/etcd-fixture.ts';

const config = makeConfig({ etcdCallTimeoutMs: 3000, clusterMaxUnappliedRecords: 5, etcdRecordMaxBytes: 4096 });
const entry = { name: 'docs', dir: 'docs-test-1', dims: 4, shards: 3 } as CollectionEntry;

const fx = useEtcd(1, 3000);

function part(ids: string[]): WritePart {
  return { upsert: { ids, vectors: new Float32Array(ids.length * 4).map((_, i) => i), payloads: ids.map(() => null) } };
}

async function recordsOf(shard: number): Promise<{ seq: number; ids: string[] }[]> {
  const log = await EtcdShardLog.open(fx.conn, new EtcdLogWriter(fx.conn, config), `${entry.dir}/${shard}`, config);
  const out: { seq: number; ids: string[] }[] = [];
  for await (const r of log.records(1)) out.push({ seq: r.seq, ids: decodeBody(r.body).ops.map((o) => o.id) });
  await log.close();
  return out;
}

test('a write over several shards is one record per shard at the returned seqs; committedPositions reads them', async () => {
  const path = new EtcdWritePath(fx.conn, new EtcdLogWriter(fx.conn, config), config);
  assert.deepEqual(await path.write(entry, new Map([[0, part(['a', 'b'])], [2, part(['c'])]])), { 0: 1, 2: 1 });
  assert.deepEqual(await path.write(entry, new Map([[2, { delete: ['c'] }]])), { 2: 2 });
  assert.deepEqual(await recordsOf(0), [{ seq: 1, ids: ['a', 'b'] }]);
  assert.deepEqual(await recordsOf(2), [{ seq: 1, ids: ['c'] }, { seq: 2, ids: ['c'] }]);
  assert.deepEqual([...await path.committedPositions(entry)], [[0, 1], [1, 0], [2, 2]]);
});

test('a part larger than one record becomes consecutive records of its shard in the same write', async () => {
  const path = new EtcdWritePath(fx.conn, new EtcdLogWriter(fx.conn, config), config);
  const ids = Array.from({ length: 300 }, (_, i) => `big-${i}`);
  const before = (await recordsOf(1)).length;
  const seqs = await path.write(entry, new Map([[1, part(ids)]]));
  const records = (await recordsOf(1)).slice(before);
  assert.ok(records.length > 1, 'split into several records');
  assert.equal(records.at(-1)!.seq, seqs[1]);
  assert.deepEqual(records.flatMap((r) => r.ids), ids);
});

test('writes to a shard whose best replica is over clusterMaxUnappliedRecords behind get 53400, and go on once it catches up', async () => {
  let applied = 0;
  const path = new EtcdWritePath(fx.conn, new EtcdLogWriter(fx.conn, config), config, () => applied);
  const lone = { ...entry, dir: 'lone-test-1', shards: 1 } as CollectionEntry;
  for (let i = 0; i < 6; i++) await path.write(lone, new Map([[0, part([`r${i}`])]]));
  await assert.rejects(path.write(lone, new Map([[0, part(['over'])]])), (err: { code?: string; message: string }) =>
    err.code === '53400' && /6 log records behind \(clusterMaxUnappliedRecords = 5\)/.test(err.message));
  applied = 4;
  assert.deepEqual(await path.write(lone, new Map([[0, part(['after'])]])), { 0: 7 });
  const unplaced = new EtcdWritePath(fx.conn, new EtcdLogWriter(fx.conn, config), config, () => null);
  for (let i = 0; i < 8; i++) await unplaced.write(lone, new Map([[0, part([`u${i}`])]]));
});

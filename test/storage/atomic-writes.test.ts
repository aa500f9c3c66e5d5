// One call's vector writes are all-or-nothing across shards. A multi-shard batch one shard refuses
// stores none of its rows, now and after a restart; a shard applies in log order, holding back what
// follows an undecided prepared record; recovery applies exactly the committed prepared records; and
// the decision log stays bounded as shards snapshot.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { makeConfig, type Config } from '../../src/config.ts';
import type { IndexSpec } from '../../src/engine/vector-index.ts';
import { Collections } from '../../src/router/collections.ts';
import type { DatabaseCollections } from '../../src/router/database-collections.ts';
import { shardOf } from '../../src/router/router.ts';
import { openLocalLog } from '../../src/router/local-log.ts';
import { ShardReplica } from '../../src/router/shard-replica.ts';
import type { Op } from '../../src/storage/record-codec.ts';
import { randomVectors, rng } from '../engine/helpers/data.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-atomic-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `d${n++}`);
const DIMS = 8;

function rows(random: () => number, prefix: string, count: number) {
  return Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${i}`, vector: randomVectors(random, 1, DIMS), payload: { i } }));
}

async function withCollections<T>(dir: string, config: Partial<Config>, work: (db: DatabaseCollections) => Promise<T>): Promise<T> {
  const all = await Collections.open(dir, makeConfig({ dataDir: dir, ...config }));
  try { return await work(all.in('app')); } finally { await all.close(); }
}

/** How many of the ids are stored, asking one shard at a time. */
async function storedCount(db: DatabaseCollections, name: string, ids: string[]): Promise<number> {
  let found = 0;
  for (const id of ids) if ((await db.get(name, id)) !== null) found++;
  return found;
}

describe('a multi-shard batch that fails stores none of its rows', () => {
  // One worker that takes one request at a time and queues one more: while a write to shard 0 is in
  // flight, a batch over both shards gets its shard-0 part queued and its shard-1 part refused (53400).
  const narrow = { shardHost: 'threads' as const, shardWorkers: 1, workerMaxInflight: 1, workerMaxQueued: 1 };
  const onShard = <T extends { id: string }>(batch: T[], shard: number): T[] => batch.filter((r) => shardOf(r.id, 2) === shard);

  test('one shard refuses (its worker queue is full): 0 of 500 rows stored, also after a restart', async () => {
    const dir = freshDir();
    const random = rng(1);
    const batch = rows(random, 'r', 500);
    const ids = batch.map((r) => r.id);
    const [blocker] = onShard(rows(random, 'blocker', 10), 0);
    assert.ok(onShard(batch, 0).length > 0 && onShard(batch, 1).length > 0, 'the batch spans both shards');
    await withCollections(dir, narrow, async (db) => {
      await db.createCollection({ name: 'docs', dims: DIMS, shards: 2, owner: 'alice' });
      await db.upsert('docs', rows(random, 'warm', 20));
      const first = db.upsert('docs', [blocker!]);
      await assert.rejects(db.upsert('docs', batch), { code: '53400' });
      await first;
      assert.equal(await storedCount(db, 'docs', ids), 0);
      // The refused batch holds nothing back: the next write to either shard goes through.
      await db.upsert('docs', onShard(batch, 1).slice(0, 1));
      assert.equal(await storedCount(db, 'docs', ids), 1);
    });
    await withCollections(dir, { shardWorkers: 1 }, async (db) => {
      assert.equal(await storedCount(db, 'docs', ids), 1, 'after a restart: still only the row written on its own');
      assert.equal((await db.listCollections())[0]!.vectors, 22);
    });
  });

  test('a bad row anywhere in the batch fails it before any shard appends: 22023 and nothing stored', async () => {
    const dir = freshDir();
    await withCollections(dir, { shardWorkers: 2 }, async (db) => {
      await db.createCollection({ name: 'docs', dims: DIMS, shards: 4, metric: 'cosine', owner: 'alice' });
      const batch = rows(rng(2), 'b', 200);
      const bad = [...batch.slice(0, 199), { ...batch[199]!, payload: [1, 2] as unknown as { i: number } }];
      await assert.rejects(db.upsert('docs', bad), { code: '22023', message: 'payload must be a JSON object' });
      assert.equal((await db.listCollections())[0]!.vectors, 0);
    });
  });

  test('a multi-shard delete is all-or-nothing too', async () => {
    const dir = freshDir();
    const random = rng(3);
    const batch = rows(random, 'x', 100);
    const ids = batch.map((r) => r.id);
    const [blocker] = onShard(rows(random, 'blocker', 10), 0);
    await withCollections(dir, narrow, async (db) => {
      await db.createCollection({ name: 'docs', dims: DIMS, shards: 2, owner: 'alice' });
      await db.upsert('docs', batch);
      const first = db.upsert('docs', [blocker!]);
      await assert.rejects(db.delete('docs', ids), { code: '53400' });
      await first;
      assert.equal(await storedCount(db, 'docs', ids), 100);
    });
    await withCollections(dir, { shardWorkers: 1 }, async (db) => {
      assert.equal(await storedCount(db, 'docs', ids), 100);
      await db.delete('docs', ids);
      assert.equal((await db.listCollections())[0]!.vectors, 1);
    });
  });
});

test('many concurrent single- and multi-shard writes through a narrow worker all finish, none lost', async () => {
  // Writes held back behind an undecided prepare fill a worker's in-flight slots: the decide that
  // releases them must not wait in the queue behind them (it did, and this hung).
  const dir = freshDir();
  const random = rng(4);
  await withCollections(dir, { shardWorkers: 2, workerMaxInflight: 2, workerMaxQueued: 1000 }, async (db) => {
    await db.createCollection({ name: 'docs', dims: DIMS, shards: 4, owner: 'alice' });
    const written: string[] = [];
    await Promise.all(Array.from({ length: 24 }, async (_, w) => {
      for (let b = 0; b < 6; b++) {
        const batch = rows(random, `c${w}-${b}`, (w + b) % 3 === 0 ? 1 : 8);
        await db.upsert('docs', batch);
        written.push(...batch.map((r) => r.id));
      }
    }));
    assert.equal(await storedCount(db, 'docs', written), written.length);
  });
});

describe('a shard applies in log order around prepared records', () => {
  const spec: IndexSpec = { dims: DIMS, metric: 'l2', quantization: 'none', m: 16, efConstruction: 64, engine: 'usearch' };
  const config = makeConfig({ walSegmentBytes: 4096 });
  const upserts = (prefix: string, count: number): Op[] => rows(rng(prefix.length), prefix, count)
    .map((r) => ({ op: 'upsert', id: r.id, vector: r.vector, payload: JSON.stringify(r.payload) }));

  test('a write after an undecided prepare is durable but waits; commit and abort release it in order', async () => {
    const dir = freshDir();
    const replica = await ShardReplica.open(dir, spec, config, await openLocalLog(dir, config));
    try {
      const prepared = await replica.prepare(7, upserts('p', 3));
      let writeSeq = 0;
      const write = replica.write(upserts('w', 2)).then((seq) => { writeSeq = seq; });
      // Durable in log order: once this later prepare is durable, so is the write before it.
      await replica.prepare(8, upserts('q', 2));
      assert.equal(replica.shard.lastApplied, prepared - 1, 'nothing applied past the undecided prepare');
      assert.equal(replica.get('w-0'), null);
      assert.equal(writeSeq, 0, 'the write is not acknowledged yet');
      assert.equal(await replica.decide(7, false), null);
      await write;
      assert.equal(writeSeq, prepared + 1);
      assert.equal(replica.get('p-0'), null, 'the aborted part is dropped');
      assert.notEqual(replica.get('w-0'), null);
      assert.equal(replica.get('q-0'), null, 'txid 8 is still undecided');
      assert.equal(await replica.decide(8, true), prepared + 2);
      assert.notEqual(replica.get('q-1'), null);
      assert.equal(await replica.decide(99, true), null, 'a txid never prepared here has nothing to decide');
    } finally {
      await replica.close();
    }
  });

  test('recovery applies the committed prepared records, skips the others, and keeps the order', async () => {
    const dir = freshDir();
    const first = await ShardReplica.open(dir, spec, config, await openLocalLog(dir, config));
    try {
      await first.prepare(11, upserts('c', 2));
      await first.prepare(12, upserts('u', 2));
      void first.write(upserts('after', 1)); // durable below, never acknowledged (txid 12 undecided)
      await first.prepare(13, [{ op: 'delete', id: 'c-0' }]);
    } finally {
      await first.close();
    }
    const replica = await ShardReplica.open(dir, spec, config, await openLocalLog(dir, config), new Set([11, 13]));
    try {
      assert.notEqual(replica.get('c-1'), null, 'txid 11 committed');
      assert.equal(replica.get('c-0'), null, 'txid 13 (a delete, after 11) committed');
      assert.equal(replica.get('u-0'), null, 'txid 12 has no commit: skipped');
      assert.notEqual(replica.get('after-0'), null, 'a record that commits by itself is applied');
      assert.equal(replica.shard.lastApplied, 4);
      assert.equal(replica.oldestRetainedTxid(), 11);
    } finally {
      await replica.close();
    }
  });
});

test('the decision log is trimmed once the shards have snapshotted past its commits', async (t) => {
  const dir = freshDir();
  const config = { shardWorkers: 2, walSegmentBytes: 2048, decisionLogSegmentBytes: 256 };
  const random = rng(5);
  const written: string[] = [];
  const decisionSegments = () => readdirSync(join(dir, 'collections')).flatMap((c) => readdirSync(join(dir, 'collections', c, 'decisions')));
  await withCollections(dir, config, async (db) => {
    await db.createCollection({ name: 'docs', dims: DIMS, shards: 3, owner: 'alice' });
    for (let round = 0; round < 8; round++) {
      for (let b = 0; b < 40; b++) {
        const batch = rows(random, `t${round}-${b}`, 6);
        await db.upsert('docs', batch);
        written.push(...batch.map((r) => r.id));
      }
      await db.snapshot('docs');
    }
  });
  // 320 commits of 25 bytes fill 32 segments of 256 bytes; only those the shards' logs since their
  // older kept snapshot (about three rounds) can need remain.
  const segments = decisionSegments().length;
  t.diagnostic(`decision log: ${segments} segments of 256 bytes after 320 commits (32 without trimming)`);
  assert.ok(segments <= 14, `decision log segments: ${segments}`);
  await withCollections(dir, config, async (db) => {
    assert.equal((await db.listCollections())[0]!.vectors, written.length);
  });
});

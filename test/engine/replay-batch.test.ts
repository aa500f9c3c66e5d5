// Batched indexing (Shard.indexPending after many applies, as ShardReplica.open replays and as the
// inline host indexes in steps) ends in exactly the state of indexing after every record: the same
// rows at the same slots, the same payload totals, an index holding every row once, the same search
// answers. Checked for both engines over a seeded mix of new rows, replaces (in the same record, in a
// later record, of rows indexed or not yet), deletes and re-inserts into freed slots, with batch
// limits that split a record, span records or take everything at the end.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { makeConfig } from '../../src/config.ts';
import { Shard } from '../../src/engine/shard.ts';
import type { EngineKind, IndexSpec } from '../../src/engine/vector-index.ts';
import { openLocalLog } from '../../src/router/local-log.ts';
import { ShardReplica } from '../../src/router/shard-replica.ts';
import type { Op } from '../../src/storage/record-codec.ts';
import { randomVectors, rng } from './helpers/data.ts';

const DIMS = 8;
const ID_SPACE = 600;
const root = mkdtempSync(join(tmpdir(), 'vg-replay-batch-'));
after(() => rmSync(root, { recursive: true, force: true }));

const spec = (engine: EngineKind): IndexSpec => ({ engine, dims: DIMS, metric: 'l2', quantization: 'none', m: 16, efConstruction: 100 });

/** Records of 1–40 ops: mostly upserts over a small id space (so replaces are frequent), some deletes. */
function mixedLog(seed: number, records: number): Op[][] {
  const random = rng(seed);
  const log: Op[][] = [];
  for (let r = 0; r < records; r++) {
    const ops: Op[] = [];
    const size = 1 + Math.floor(random() * 40);
    for (let i = 0; i < size; i++) {
      const id = `r${Math.floor(random() * ID_SPACE)}`;
      if (random() < 0.2) ops.push({ op: 'delete', id });
      else ops.push({ op: 'upsert', id, vector: randomVectors(random, 1, DIMS), payload: random() < 0.5 ? JSON.stringify({ r, i, tag: 'é'.repeat(i % 3) }) : null });
    }
    log.push(ops);
  }
  return log;
}

function recordByRecord(engine: EngineKind, log: Op[][]): Shard {
  const shard = new Shard(spec(engine), makeConfig());
  log.forEach((ops, i) => {
    assert.equal(shard.apply(i + 1, ops), true);
    assert.equal(shard.indexPending(), 0);
  });
  return shard;
}

/** Every record applied first, then indexed batchRows rows at a time. */
function batched(engine: EngineKind, log: Op[][], batchRows: number): Shard {
  const shard = new Shard(spec(engine), makeConfig());
  log.forEach((ops, i) => assert.equal(shard.apply(i + 1, ops), true));
  while (shard.indexPending(batchRows) > 0);
  return shard;
}

/** Every id of the id space: its row (or null) and slot; the totals; every row's distance to a few queries. */
function stateOf(shard: Shard) {
  const rows = Array.from({ length: ID_SPACE }, (_, i) => {
    const id = `r${i}`;
    return { row: shard.get(id), slot: shard.rows.slotOf(id) };
  });
  const random = rng(99);
  // k = every row: the answer does not depend on how the graph was built, only on what it holds.
  const searches = Array.from({ length: 3 }, () => shard.search(randomVectors(random, 1, DIMS), shard.count + 5, { ef: shard.count + 5 })
    .map((h) => `${h.id}:${h.distance.toFixed(5)}`).sort());
  return { rows, count: shard.count, indexSize: shard.index.size(), payloadBytes: shard.payloadBytes, lastApplied: shard.lastApplied, searches };
}

for (const engine of ['usearch', 'hnswlib'] as const) {
  describe(`batched replay (${engine})`, () => {
    test('gives exactly the state of record-by-record apply, whatever the batch limit', () => {
      const log = mixedLog(engine === 'usearch' ? 7 : 8, 300);
      const expected = stateOf(recordByRecord(engine, log));
      assert.ok(expected.count > 100 && expected.count < ID_SPACE, `the mix leaves a partly filled id space (${expected.count} rows)`);
      assert.equal(expected.indexSize, expected.count);
      for (const batchRows of [1, 7, 64, 16_384]) {
        assert.deepEqual(stateOf(batched(engine, log, batchRows)), expected, `batchRows ${batchRows}`);
      }
    });

    test('indexing steps between applies, and a search in the middle of them, change nothing of the state', () => {
      const log = mixedLog(3, 60);
      const shard = new Shard(spec(engine), makeConfig());
      const random = rng(5);
      log.forEach((ops, i) => {
        assert.equal(shard.apply(i + 1, ops), true);
        if (random() < 0.5) shard.indexPending(1 + Math.floor(random() * 20));
        if (i % 10 === 0) assert.equal(shard.search(new Float32Array(DIMS), shard.count + 5, { ef: shard.count + 5 }).length, shard.count, 'every stored row is found, indexed or not');
      });
      assert.equal(shard.apply(5, log[4]!), false, 'a record applied before is skipped');
      assert.throws(() => shard.apply(log.length + 2, []), /skipped/);
      while (shard.indexPending(16) > 0);
      assert.deepEqual(stateOf(shard), stateOf(recordByRecord(engine, log)));
    });

    test('a replica reopened from its log alone holds what it held when its writes were applied one by one', async () => {
      const dir = join(root, engine);
      const config = makeConfig({ dataDir: dir, indexBatchRows: 50 });
      const log = mixedLog(engine === 'usearch' ? 21 : 22, 200);
      let replica = await ShardReplica.open(dir, spec(engine), config, await openLocalLog(dir, config));
      try {
        for (const ops of log) await replica.write(ops);
        const written = stateOf(replica.shard);
        await replica.close();
        replica = await ShardReplica.open(dir, spec(engine), config, await openLocalLog(dir, config));
        assert.equal(replica.stats().snapshotSeq, 0, 'no snapshot: everything came from the log');
        assert.deepEqual(stateOf(replica.shard), written);
        assert.equal(replica.lastApplied, log.length);
        await replica.write([{ op: 'upsert', id: 'after', vector: new Float32Array(DIMS).fill(1), payload: null }]);
        assert.equal(replica.shard.get('after')?.id, 'after', 'the reopened replica takes writes');
      } finally {
        await replica.close();
      }
    });
  });
}

// What collections hold, for quotas: rows and bytes (vectors × dims × 4 + the UTF-8 bytes of the stored
// payload JSON texts), kept as running totals by each shard and summed over shards and owners.
// Checked against a model of the rows after upserts, replacements, deletes, a replay and a snapshot.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { makeConfig } from '../../src/config.ts';
import type { IndexSpec } from '../../src/engine/vector-index.ts';
import { Collections } from '../../src/router/collections.ts';
import { openLocalLog } from '../../src/router/local-log.ts';
import { ShardReplica } from '../../src/router/shard-replica.ts';
import type { Op } from '../../src/storage/record-codec.ts';
import { randomVectors, rng } from './helpers/data.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-usage-'));
after(() => rmSync(root, { recursive: true, force: true }));
const config = (dir: string) => makeConfig({ dataDir: dir, shardWorkers: 2 });

/** The rows a collection should hold: id → payload text as the client wrote it (or null). */
class Model {
  readonly rows = new Map<string, string | null>();
  constructor(readonly dims: number) {}
  apply(ops: readonly Op[]): void {
    for (const op of ops) if (op.op === 'delete') this.rows.delete(op.id); else this.rows.set(op.id, op.payload);
  }
  /** The stored text is the payload re-serialised: whitespace the client wrote is not counted. */
  get bytes(): number {
    let payloadBytes = 0;
    for (const text of this.rows.values()) if (text !== null) payloadBytes += Buffer.byteLength(JSON.stringify(JSON.parse(text)));
    return this.rows.size * this.dims * 4 + payloadBytes;
  }
  get usage() { return { vectors: this.rows.size, bytes: this.bytes }; }
}

/** Upserts with payloads of varied size, some multi-byte UTF-8, some with spaces, some none. */
function upserts(random: () => number, dims: number, ids: readonly string[]): Op[] {
  return ids.map((id) => {
    const roll = random();
    const payload = roll < 0.2 ? null
      : roll < 0.5 ? `{ "lang" : "${'é'.repeat(1 + Math.floor(random() * 5))}" }`
        : JSON.stringify({ n: Math.floor(random() * 1000), tag: 'x'.repeat(Math.floor(random() * 40)) });
    return { op: 'upsert', id, vector: randomVectors(random, 1, dims), payload };
  });
}

const ids = (prefix: string, from: number, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${from + i}`);
const rowsOf = (ops: readonly Op[]) => ops.map((op) => {
  if (op.op === 'delete') throw new Error('not an upsert');
  return { id: op.id, vector: op.vector, payload: op.payload };
});

describe('usage of collections and owners', () => {
  test('after upserts, replacements and deletes; per owner over databases; after a restart', async () => {
    const dir = join(root, 'collections');
    const random = rng(9);
    let all = await Collections.open(dir, config(dir));
    try {
      const app = all.in('app');
      const shop = all.in('shop');
      await app.createCollection({ name: 'docs', dims: 8, shards: 3, owner: 'alice' });
      await shop.createCollection({ name: 'items', dims: 3, shards: 2, owner: 'alice' });
      await app.createCollection({ name: 'notes', dims: 5, shards: 1, owner: 'bob' });
      const docs = new Model(8);
      const items = new Model(3);
      const notes = new Model(5);
      assert.deepEqual(await app.usage('docs'), { vectors: 0, bytes: 0 });

      const write = async (view: typeof app, name: string, model: Model, ops: Op[]) => {
        model.apply(ops);
        const deletes = ops.filter((op) => op.op === 'delete').map((op) => op.id);
        if (deletes.length > 0) await view.delete(name, deletes);
        else await view.upsert(name, rowsOf(ops));
      };
      await write(app, 'docs', docs, upserts(random, 8, ids('d', 0, 200)));
      await write(shop, 'items', items, upserts(random, 3, ids('i', 0, 50)));
      await write(app, 'notes', notes, upserts(random, 5, ids('n', 0, 30)));
      assert.deepEqual(await app.usage('docs'), docs.usage);
      assert.ok(docs.bytes > 200 * 8 * 4, 'payload bytes are counted');

      // Replacements change a row's payload (bigger, smaller, none) without adding a row.
      await write(app, 'docs', docs, upserts(random, 8, ids('d', 100, 150)));
      await write(app, 'docs', docs, [{ op: 'delete', id: 'd-3' }, { op: 'delete', id: 'd-7' }, { op: 'delete', id: 'no-such-id' }]);
      await write(shop, 'items', items, ids('i', 0, 20).map((id) => ({ op: 'delete', id })));
      assert.deepEqual(await app.usage('docs'), docs.usage);
      assert.equal(docs.usage.vectors, 248);
      assert.deepEqual(await shop.usage('items'), items.usage);

      const expectedAlice = { collections: 2, vectors: docs.rows.size + items.rows.size, bytes: docs.bytes + items.bytes };
      assert.deepEqual(await all.usageOfOwner('alice'), expectedAlice);
      assert.deepEqual(await all.usageOfOwner('bob'), { collections: 1, ...notes.usage });
      assert.deepEqual(await all.usageOfOwner('nobody'), { collections: 0, vectors: 0, bytes: 0 });

      await all.close();
      all = await Collections.open(dir, config(dir));
      assert.deepEqual(await all.in('app').usage('docs'), docs.usage, 'restored from the snapshot taken at shutdown');
      assert.deepEqual(await all.usageOfOwner('alice'), expectedAlice);
    } finally {
      await all.close();
    }
  });

  test('a shard replica restores its payload-byte total by log replay and from a snapshot', async () => {
    const dir = join(root, 'replica');
    const spec: IndexSpec = { engine: 'usearch', dims: 4, metric: 'l2', quantization: 'none', m: 16, efConstruction: 64 };
    const random = rng(17);
    const model = new Model(4);
    const payloadBytes = () => model.bytes - model.rows.size * 4 * 4;
    let replica = await ShardReplica.open(dir, spec, config(dir), await openLocalLog(dir, config(dir)));
    try {
      const write = async (ops: Op[]) => { model.apply(ops); await replica.write(ops); };
      await write(upserts(random, 4, ids('r', 0, 100)));
      await write(upserts(random, 4, ids('r', 50, 100)));
      await write(ids('r', 0, 10).map((id) => ({ op: 'delete', id })));
      assert.equal(replica.stats().payloadBytes, payloadBytes());

      await replica.close();
      replica = await ShardReplica.open(dir, spec, config(dir), await openLocalLog(dir, config(dir)));
      assert.equal(replica.stats().snapshotSeq, 0, 'no snapshot: the log was replayed');
      assert.deepEqual({ count: replica.stats().count, payloadBytes: replica.stats().payloadBytes }, { count: model.rows.size, payloadBytes: payloadBytes() });

      await replica.snapshot();
      await write(upserts(random, 4, ids('r', 120, 40)));
      await write(ids('r', 20, 5).map((id) => ({ op: 'delete', id })));
      await replica.close();
      replica = await ShardReplica.open(dir, spec, config(dir), await openLocalLog(dir, config(dir)));
      assert.ok(replica.stats().snapshotSeq > 0, 'restored from the snapshot, then the log after it');
      assert.deepEqual({ count: replica.stats().count, payloadBytes: replica.stats().payloadBytes }, { count: model.rows.size, payloadBytes: payloadBytes() });
    } finally {
      await replica.close();
    }
  });
});

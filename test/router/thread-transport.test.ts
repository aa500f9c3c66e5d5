// What only worker_threads do when one dies (the contract covers the rest): the calls it was
// answering fail naming the thread and the shard, the death is logged, the restarts are bounded, and
// through the embedded seams a multi-shard batch (two-phase commit) survives the reopen.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { makeConfig } from '../../src/config.ts';
import type { IndexSpec } from '../../src/engine/vector-index.ts';
import { VectorgateError } from '../../src/errors.ts';
import { CollectionStore } from '../../src/router/collection-store.ts';
import { openEmbeddedSeams } from '../../src/router/embedded-seams.ts';
import type { HealthEvent, ShardTransport } from '../../src/router/shard-transport.ts';
import { ThreadTransport } from '../../src/router/thread-transport.ts';
import type { WritePart } from '../../src/router/write-path.ts';
import { randomVectors, rng } from '../engine/helpers/data.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-threads-'));
after(() => rmSync(root, { recursive: true, force: true }));
const spec: IndexSpec = { engine: 'usearch', dims: 4, metric: 'l2', quantization: 'none', m: 16, efConstruction: 64 };
let n = 0;

/** A logger whose JSON lines are kept. */
function capturingLog(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } });
  return { log, lines };
}

function health(transport: ShardTransport, kind: HealthEvent['kind']): Promise<HealthEvent> {
  return new Promise((resolve) => {
    const unsubscribe = transport.onHealth((event) => {
      if (event.kind !== kind) return;
      unsubscribe();
      resolve(event);
    });
  });
}

describe('worker thread deaths', () => {
  test('a call in flight fails naming the thread and the shard; the death is logged with its reason', async () => {
    const { log, lines } = capturingLog();
    const transport = new ThreadTransport(makeConfig({ shardWorkers: 1 }), { log });
    try {
      await transport.open('c/0', join(root, `s${n++}`), spec, []);
      // A read waiting for a seq no one writes stays in flight until its thread dies.
      const waiting = transport.call({ type: 'get', shard: 'c/0', id: 'x', read: { minSeq: 1_000, waitMs: 600_000 } });
      const up = health(transport, 'up');
      await transport.terminateThreadOf('c/0');
      await assert.rejects(waiting, (err: unknown) => {
        assert.ok(err instanceof VectorgateError);
        assert.equal(err.code, 'XX000');
        assert.match(err.message, /^shard worker thread-0 died \(exited with code 1\) while answering a get request for shard c\/0; its outcome is unknown$/);
        return true;
      });
      await up;
      const died = lines.find((l) => l.msg === 'shard worker thread died');
      assert.deepEqual(died && { thread: died.thread, reason: died.reason, shards: died.shards, level: died.level },
        { thread: 0, reason: 'exited with code 1', shards: ['c/0'], level: 50 });
      assert.ok(lines.some((l) => l.msg === 'shard worker thread restarted'));
      assert.equal(await transport.call({ type: 'get', shard: 'c/0', id: 'x' }), null);
    } finally {
      await transport.close();
    }
  });

  test('past workerMaxRestartsPerMinute the thread stays down and its shards fail with a clear error, logged', async () => {
    const { log, lines } = capturingLog();
    const transport = new ThreadTransport(makeConfig({ shardWorkers: 1, workerMaxRestartsPerMinute: 1 }), { log });
    try {
      await transport.open('c/0', join(root, `s${n++}`), spec, []);
      const up = health(transport, 'up');
      await transport.terminateThreadOf('c/0');
      await up;
      const events: HealthEvent[] = [];
      transport.onHealth((e) => events.push(e));
      await transport.terminateThreadOf('c/0');
      await assert.rejects(transport.call({ type: 'stats', shard: 'c/0' }), (err: unknown) => {
        assert.ok(err instanceof VectorgateError);
        assert.equal(err.code, 'XX000');
        assert.match(err.message, /^shard worker thread-0 died 2 times within a minute \(last: exited with code 1\); its shards \(c\/0\) are unavailable until vectorgate restarts$/);
        return true;
      });
      assert.deepEqual(events.map((e) => e.kind), ['down']);
      assert.ok(lines.some((l) => l.msg === 'shard worker thread keeps dying; not restarting it' && l.thread === 0));
    } finally {
      await transport.close();
    }
  });

  test('a thread that dies between a prepare and its decision: the shard reopens knowing it, the decide answers its seq', async () => {
    const committed = new Set<number>();
    const transport = new ThreadTransport(makeConfig({ shardWorkers: 1, logLevel: 'silent' }), { committedOf: () => [...committed] });
    try {
      await transport.open('c/0', join(root, `s${n++}`), spec, []);
      const upsert = (id: string) => ({ ids: [id], vectors: new Float32Array([1, 2, 3, 4]), payloads: [null] });
      const committedSeq = await transport.call({ type: 'prepare', shard: 'c/0', txid: 7, upsert: upsert('kept') });
      await transport.call({ type: 'prepare', shard: 'c/0', txid: 8, upsert: upsert('dropped') });
      const up = health(transport, 'up');
      await transport.terminateThreadOf('c/0');
      // The coordinator's commit record of txid 7 becomes durable while the thread is down.
      committed.add(7);
      assert.equal(await transport.call({ type: 'decide', shard: 'c/0', txid: 7, commit: true }), committedSeq);
      assert.equal(await transport.call({ type: 'decide', shard: 'c/0', txid: 8, commit: false }), null);
      await up;
      assert.ok(await transport.call({ type: 'get', shard: 'c/0', id: 'kept' }) !== null);
      assert.equal(await transport.call({ type: 'get', shard: 'c/0', id: 'dropped' }), null);
    } finally {
      await transport.close();
    }
  });

  test('through the embedded seams: after a thread dies every acknowledged row of a two-phase batch is there', async () => {
    const dataDir = join(root, `d${n++}`);
    const config = makeConfig({ dataDir, shardHost: 'threads', shardWorkers: 1, logLevel: 'silent' });
    const seams = await openEmbeddedSeams(dataDir, config);
    const store = await CollectionStore.open(dataDir, config, seams);
    try {
      assert.ok(seams.transport instanceof ThreadTransport);
      const entry = await store.create({ name: 'items', dims: 4, metric: 'l2', shards: 2, replicas: 1, quantization: 'none', m: 16, efConstruction: 64, engine: 'usearch', database: 'db', owner: 'alice' });
      const random = rng(17);
      const expected = new Map<string, Float32Array>();
      for (let b = 0; b < 3; b++) {
        const parts = new Map<number, WritePart>();
        for (const shard of [0, 1]) {
          const ids = Array.from({ length: 5 }, (_, i) => `b${b}-s${shard}-${i}`);
          const vectors = randomVectors(random, 5, 4);
          ids.forEach((id, i) => expected.set(`${shard}:${id}`, vectors.slice(i * 4, (i + 1) * 4)));
          parts.set(shard, { upsert: { ids, vectors, payloads: ids.map(() => null) } });
        }
        const positions = await store.write(entry, parts);
        assert.deepEqual(Object.keys(positions), ['0', '1'], 'both shards took part (two-phase commit)');
      }
      const up = health(seams.transport, 'up');
      await seams.transport.terminateThreadOf(`${entry.dir}/0`);
      await up;
      for (const [key, vector] of expected) {
        const [shard, id] = key.split(':') as [string, string];
        const row = await store.get(entry, Number(shard), id);
        assert.ok(row !== null, `${id} lost after the restart`);
        assert.deepEqual([...row.vector], [...vector]);
      }
      const hits = await store.search(entry, expected.get('0:b0-s0-0')!, 1, {});
      assert.deepEqual(hits.map((h) => h.length), [1, 1]);
      assert.equal(hits[0]![0]!.id, 'b0-s0-0');
    } finally {
      await store.close();
    }
  });
});

// ReplicaHost's read bounds: a read waits (bounded) until its replica has applied the seq it needs
// or caught up with its log, then fails 57014. The log here is one whose records arrive later, as an
// etcd log's do when another proxy appended them.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { makeConfig } from '../../src/config.ts';
import { VectorgateError } from '../../src/errors.ts';
import type { IndexSpec } from '../../src/engine/vector-index.ts';
import { openLocalLog } from '../../src/router/local-log.ts';
import { ReplicaHost } from '../../src/router/replica-host.ts';
import type { StoredRow } from '../../src/engine/shard.ts';
import { encodeBody } from '../../src/storage/record-codec.ts';
import type { ApplyRecord, ShardLog, ShardLogRecord } from '../../src/storage/shard-log.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-replica-host-'));
after(() => rmSync(root, { recursive: true, force: true }));
const config = makeConfig({ logLevel: 'silent' });
const spec: IndexSpec = { engine: 'usearch', dims: 4, metric: 'l2', quantization: 'none', m: 16, efConstruction: 64 };
let n = 0;

/** A log that others append to: `announce` makes a seq known as committed, `deliver` hands its record to the tail. */
class LaterLog implements ShardLog {
  readonly records_: ShardLogRecord[] = [];
  #lastSeq = 0;
  #apply: ApplyRecord | null = null;
  get firstSeq(): number { return 1; }
  get lastSeq(): number { return this.#lastSeq; }
  get bytes(): number { return this.records_.reduce((sum, r) => sum + r.body.length, 0); }
  /** It learns of each seq when it is announced: it knows every committed record whenever asked. */
  get caughtUpAtMs(): number { return Date.now(); }
  announce(seq: number): void { this.#lastSeq = Math.max(this.#lastSeq, seq); }
  deliver(body: Buffer): number {
    const seq = this.records_.length + 1;
    this.records_.push({ seq, body });
    this.announce(seq);
    this.#apply?.(seq, body);
    return seq;
  }
  async append(body: Buffer): Promise<number> { return this.deliver(body); }
  async *records(fromSeq: number): AsyncIterable<ShardLogRecord> { yield* this.records_.filter((r) => r.seq >= fromSeq); }
  async tail(afterSeq: number, apply: ApplyRecord): Promise<void> {
    for (const r of this.records_) if (r.seq > afterSeq) apply(r.seq, r.body);
    this.#apply = apply;
  }
  async startAfter(): Promise<void> {}
  async truncateBefore(): Promise<void> {}
  async close(): Promise<void> { this.#apply = null; }
}

const upsert = (id: string, x: number): Buffer =>
  encodeBody(4, [{ op: 'upsert', id, vector: new Float32Array([x, 0, 0, 0]), payload: null }], null);

async function openHost(log: ShardLog): Promise<ReplicaHost> {
  const host = new ReplicaHost(config, async () => log);
  await host.handle({ type: 'open', shard: 'c/0', dir: join(root, `s${n++}`), spec, committed: [] });
  return host;
}

async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof VectorgateError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

describe('replica host read bounds', () => {
  test('a read with minSeq waits until its record arrives, then answers with it', async () => {
    const log = new LaterLog();
    const host = await openHost(log);
    try {
      let answered = false;
      const read = host.handle({ type: 'get', shard: 'c/0', id: 'a', read: { minSeq: 2, waitMs: 60_000 } })
        .finally(() => { answered = true; });
      log.deliver(upsert('b', 1));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(answered, false, 'answered before seq 2 was applied');
      log.deliver(upsert('a', 2));
      const row = await read as StoredRow | null;
      assert.deepEqual([...row!.vector], [2, 0, 0, 0]);
    } finally {
      await host.close();
    }
  });

  test('a read whose seq never arrives fails with 57014 naming the shard, the seq and the wait', async () => {
    const host = await openHost(new LaterLog());
    try {
      await rejectsWith(host.handle({ type: 'search', shard: 'c/0', query: new Float32Array(4), k: 1, options: {}, read: { minSeq: 5, waitMs: 20 } }),
        '57014', /^replica of shard c\/0 did not apply seq 5 within 20 ms/);
      assert.deepEqual(await host.handle({ type: 'search', shard: 'c/0', query: new Float32Array(4), k: 1, options: {} }), [],
        'the host still answers reads without a bound');
    } finally {
      await host.close();
    }
  });

  test('a bounded read waits until the replica has applied everything its log announced', async () => {
    const log = new LaterLog();
    log.announce(2);
    const host = await openHost(log);
    try {
      const bound = { maxStalenessMs: 60_000, waitMs: 20 };
      await rejectsWith(host.handle({ type: 'get', shard: 'c/0', id: 'a', read: bound }), '57014', /^replica of shard c\/0 was not within 60000 ms of its log/);
      const read = host.handle({ type: 'get', shard: 'c/0', id: 'a', read: { ...bound, waitMs: 60_000 } });
      log.deliver(upsert('a', 3));
      log.deliver(upsert('b', 4));
      assert.deepEqual([...(await read as StoredRow).vector], [3, 0, 0, 0]);
    } finally {
      await host.close();
    }
  });

  test('on the local log every acknowledged write satisfies a session read at once', async () => {
    const host = new ReplicaHost(config, (dir) => openLocalLog(dir, config));
    try {
      await host.handle({ type: 'open', shard: 'c/0', dir: join(root, `s${n++}`), spec, committed: [] });
      const seq = await host.handle({ type: 'write', shard: 'c/0', upsert: { ids: ['a'], vectors: new Float32Array([1, 2, 3, 4]), payloads: [null] } }) as number;
      const row = await host.handle({ type: 'get', shard: 'c/0', id: 'a', read: { minSeq: seq, maxStalenessMs: 0, waitMs: 0 } }) as StoredRow;
      assert.deepEqual([...row.vector], [1, 2, 3, 4]);
    } finally {
      await host.close();
    }
  });
});

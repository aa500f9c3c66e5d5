// The contract every ShardLog keeps (src/storage/shard-log.ts), as one suite that runs against each
// implementation: the local WAL and the etcd log (shard-log.contract.test.ts).
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { SqlState, VectorgateError } from '../../src/errors.ts';
import { decodeBody, encodeBody } from '../../src/storage/record-codec.ts';
import type { ShardLog, ShardLogRecord } from '../../src/storage/shard-log.ts';

/** One log: open() opens it (again, after a close: a reopen of the same durable log). */
export interface LogSite { open(): Promise<ShardLog> }

export const body = (i: number) => encodeBody(2, [{ op: 'upsert', id: `id-${i}`, vector: Float32Array.of(i, -i), payload: `{"i":${i}}` }]);
export const idOf = (b: Buffer) => decodeBody(b).ops[0]!.id;

export async function collect(log: ShardLog, from: number): Promise<ShardLogRecord[]> {
  const out: ShardLogRecord[] = [];
  for await (const r of log.records(from)) out.push(r);
  return out;
}

/** Waits (bounded) until the condition holds: tails of other processes apply asynchronously. */
export async function until(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`still not true after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function withLog<T>(site: LogSite, use: (log: ShardLog) => Promise<T>): Promise<T> {
  const log = await site.open();
  try {
    return await use(log);
  } finally {
    await log.close();
  }
}

export function shardLogContract(newSite: () => Promise<LogSite>): void {
  test('appends get contiguous seqs from 1 and stay durable across a reopen', async () => {
    const site = await newSite();
    await withLog(site, async (log) => {
      assert.equal(log.lastSeq, 0);
      for (let i = 1; i <= 5; i++) assert.equal(await log.append(body(i)), i);
      assert.equal(log.lastSeq, 5);
    });
    await withLog(site, async (log) => {
      assert.equal(log.lastSeq, 5);
      assert.equal(log.firstSeq, 1);
      assert.ok(log.bytes > 0);
      const records = await collect(log, 1);
      assert.deepEqual(records.map((r) => [r.seq, idOf(r.body)]), [1, 2, 3, 4, 5].map((i) => [i, `id-${i}`]));
      assert.equal(await log.append(body(6)), 6);
    });
  });

  test('records(from) yields the records from that seq in order', async () => {
    const site = await newSite();
    await withLog(site, async (log) => {
      for (let i = 1; i <= 8; i++) await log.append(body(i));
      assert.deepEqual((await collect(log, 3)).map((r) => r.seq), [3, 4, 5, 6, 7, 8]);
      assert.deepEqual((await collect(log, 9)).map((r) => r.seq), []);
    });
  });

  test('tail delivers the records after its start, then later ones, each once and in order', async () => {
    const site = await newSite();
    await withLog(site, async (log) => {
      for (let i = 1; i <= 4; i++) await log.append(body(i));
      const seen: [number, string][] = [];
      await log.tail(1, (seq, b) => seen.push([seq, idOf(b)]));
      for (let i = 5; i <= 9; i++) await log.append(body(i));
      await until('the tail applied seq 9', () => seen.at(-1)?.[0] === 9);
      await log.append(body(10));
      await until('the tail applied seq 10', () => seen.at(-1)?.[0] === 10);
      assert.deepEqual(seen, [2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => [i, `id-${i}`]));
    });
  });

  test('after truncateBefore a tail from the truncation point still gets every later record', async () => {
    const site = await newSite();
    await withLog(site, async (log) => {
      for (let i = 1; i <= 10; i++) await log.append(body(i));
      await log.truncateBefore(6);
    });
    await withLog(site, async (log) => {
      assert.ok(log.firstSeq <= 6 && log.firstSeq > 1, `firstSeq ${log.firstSeq}`);
      assert.deepEqual((await collect(log, log.firstSeq)).map((r) => r.seq).at(-1), 10);
      const seen: number[] = [];
      await log.tail(5, (seq) => seen.push(seq));
      await log.append(body(11));
      await until('the tail applied seq 11', () => seen.at(-1) === 11);
      assert.deepEqual(seen, [6, 7, 8, 9, 10, 11]);
    });
  });

  test('startAfter continues the numbering after a snapshot\'s seq, also after a reopen', async () => {
    const site = await newSite();
    await withLog(site, async (log) => {
      await log.startAfter(100);
      assert.equal(log.lastSeq, 100);
      assert.equal(await log.append(body(101)), 101);
      await log.startAfter(50);
      assert.equal(await log.append(body(102)), 102);
    });
    await withLog(site, async (log) => {
      assert.equal(log.lastSeq, 102);
      assert.deepEqual((await collect(log, 1)).map((r) => r.seq), [101, 102]);
    });
  });

  test('concurrent appends each get their own seq, and the log holds each body under it', async () => {
    const site = await newSite();
    await withLog(site, async (log) => {
      const seqs = await Promise.all(Array.from({ length: 40 }, (_, i) => log.append(body(i))));
      assert.deepEqual([...seqs].sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i + 1));
      const byId = new Map((await collect(log, 1)).map((r) => [idOf(r.body), r.seq]));
      seqs.forEach((seq, i) => assert.equal(byId.get(`id-${i}`), seq));
    });
  });

  test('close settles the appends in flight, refuses new ones, and keeps what it acknowledged', async () => {
    const site = await newSite();
    const log = await site.open();
    const appends = Array.from({ length: 10 }, (_, i) => log.append(body(i)));
    await log.close();
    const settled = await Promise.race([Promise.allSettled(appends), new Promise((r) => setImmediate(r, 'pending'))]);
    assert.notEqual(settled, 'pending', 'an append was still pending after close()');
    const acknowledged = (settled as PromiseSettledResult<number>[]).flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    await assert.rejects(log.append(body(99)), (err: unknown) => err instanceof VectorgateError && err.code === SqlState.AdminShutdown);
    await withLog(site, async (reopened) => {
      const held = new Set((await collect(reopened, 1)).map((r) => r.seq));
      for (const seq of acknowledged) assert.ok(held.has(seq), `acknowledged seq ${seq} is not in the log`);
    });
  });
}

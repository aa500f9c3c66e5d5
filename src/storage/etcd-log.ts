// The cluster implementation of ShardLog: one shard's log kept in etcd (keys in etcd-log-read.ts),
// appended through an EtcdLogWriter (one guarded transaction per write, shared by every shard of the
// process) and followed by an EtcdTail. Any number of processes may append to and tail the same log.
import { SqlState, VectorgateError } from '../errors.ts';
import { withDeadline, type EtcdConnection } from './etcd-client.ts';
import { counterValue, logKeys, readCounters, readRecordPages, type EtcdLogSettings, type LogKeys } from './etcd-log-read.ts';
import type { EtcdLogWriter } from './etcd-log-writer.ts';
import { EtcdTail } from './etcd-tail.ts';
import type { ApplyRecord, ShardLog, ShardLogRecord } from './shard-log.ts';

export { EtcdLogWriter, type AppendPart } from './etcd-log-writer.ts';
export type { EtcdLogSettings } from './etcd-log-read.ts';

/** Attempts of startAfter / truncateBefore when another process moves the same counter meanwhile. */
const COUNTER_ATTEMPTS = 5;

export class EtcdShardLog implements ShardLog {
  readonly #conn: EtcdConnection;
  readonly #writer: EtcdLogWriter;
  readonly #keys: LogKeys;
  readonly #settings: EtcdLogSettings;
  #firstSeq: number;
  #lastSeq: number;
  /** Average record value size seen (for the bytes estimate). */
  #averageBytes = 0;
  #tail: EtcdTail | null = null;
  #failure: VectorgateError | null = null;
  #caughtUpAtMs = 0;
  #closed = false;
  readonly #pending = new Set<Promise<unknown>>();

  private constructor(conn: EtcdConnection, writer: EtcdLogWriter, keys: LogKeys, settings: EtcdLogSettings, first: number, next: number) {
    this.#conn = conn;
    this.#writer = writer;
    this.#keys = keys;
    this.#settings = settings;
    this.#firstSeq = first;
    this.#lastSeq = next - 1;
  }

  /** Opens the log "<dir>/<shard>" (reads its counters; nothing is written until an append). */
  static async open(conn: EtcdConnection, writer: EtcdLogWriter, log: string, settings: EtcdLogSettings): Promise<EtcdShardLog> {
    const keys = logKeys(settings.etcdPrefix, log);
    const { first, next } = await readCounters(conn, keys, settings.etcdCallTimeoutMs);
    const shardLog = new EtcdShardLog(conn, writer, keys, settings, Math.min(first, next), next);
    if (next > first) {
      // The newest record's size seeds the bytes estimate.
      const res = await withDeadline(conn, settings.etcdCallTimeoutMs, `read log ${log}`, (options) => conn.client.kv.range({ key: keys.record(next - 1) }, options));
      const value = res.kvs[0]?.value;
      if (value !== undefined) shardLog.#saw(next - 1, value.length);
    }
    return shardLog;
  }

  get log(): string { return this.#keys.log; }
  get firstSeq(): number { return Math.min(this.#firstSeq, this.#lastSeq + 1); }
  get lastSeq(): number { return this.#lastSeq; }
  /** An estimate: records held × the average record size this process has seen. */
  get bytes(): number { return Math.round((this.#lastSeq - this.firstSeq + 1) * this.#averageBytes); }
  /** When the tail last had applied everything before the `next` it read (ms epoch; 0: not yet) — for bounded staleness. */
  get caughtUpAtMs(): number { return this.#caughtUpAtMs; }
  /** Why the tail stopped (apply threw, damaged record, truncated past it), or null. */
  get failure(): VectorgateError | null { return this.#failure; }

  append(body: Buffer): Promise<number> {
    if (this.#closed) return Promise.reject(new VectorgateError(SqlState.AdminShutdown, `log ${this.log} is closed`));
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const append = this.#writer.appendAtomic([{ log: this.log, bodies: [body] }]).then(([seq]) => {
      this.#saw(seq!, body.length);
      return seq!;
    });
    this.#pending.add(append);
    void append.catch(() => {}).finally(() => this.#pending.delete(append));
    return append;
  }

  async *records(fromSeq: number): AsyncGenerator<ShardLogRecord> {
    const { next } = await readCounters(this.#conn, this.#keys, this.#settings.etcdCallTimeoutMs);
    this.#lastSeq = Math.max(this.#lastSeq, next - 1);
    for await (const page of readRecordPages(this.#conn, this.#keys, this.#settings, Math.max(1, fromSeq), next - 1)) {
      for (const record of page.records) yield { seq: record.seq, body: record.body };
    }
  }

  async tail(afterSeq: number, apply: ApplyRecord): Promise<void> {
    if (this.#closed) throw new VectorgateError(SqlState.AdminShutdown, `log ${this.log} is closed`);
    if (this.#tail !== null) throw new Error(`log ${this.log} is already tailed`);
    const tail = new EtcdTail(this.#conn, this.#keys, this.#settings, afterSeq, apply, {
      applied: (seq, valueBytes) => this.#saw(seq, valueBytes),
      stopped: (err) => { this.#failure = err; },
      checked: (next, caughtUp) => {
        this.#lastSeq = Math.max(this.#lastSeq, next - 1);
        if (caughtUp) this.#caughtUpAtMs = Date.now();
      },
    });
    this.#tail = tail;
    try {
      await tail.start();
    } catch (err) {
      this.#tail = null;
      throw err;
    }
  }

  /** Moves `next` (and `first`: the log holds nothing before it) to seq + 1 unless it is there already. */
  async startAfter(seq: number): Promise<void> {
    await this.#moveCounters('start the log after', (next) => (next > seq ? null : { next: seq + 1, first: seq + 1 }));
  }

  /** Deletes records before seq (never past next) and moves `first` there; `first` only grows. */
  async truncateBefore(seq: number): Promise<void> {
    await this.#moveCounters('truncate the log', (next, first) => {
      const to = Math.min(seq, next);
      return to <= first ? null : { first: to, deleteFrom: first };
    });
  }

  /** Stops the tail; appends in flight settle first (each within etcdWriteTimeoutMs). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#pending]);
    await this.#tail?.stop();
    this.#writer.forget(this.log);
  }

  #saw(seq: number, valueBytes: number): void {
    this.#lastSeq = Math.max(this.#lastSeq, seq);
    this.#averageBytes = this.#averageBytes === 0 ? valueBytes : this.#averageBytes * 0.99 + valueBytes * 0.01;
  }

  /** One guarded transaction on the counters, retried when another process changed them in between. */
  async #moveCounters(action: string, plan: (next: number, first: number) => { next?: number; first: number; deleteFrom?: number } | null): Promise<void> {
    const k = this.#keys;
    for (let attempt = 1; ; attempt++) {
      const res = await withDeadline(this.#conn, this.#settings.etcdCallTimeoutMs, `read log ${this.log}`,
        (options) => this.#conn.client.kv.txn({ success: [{ request_range: { key: k.next } }, { request_range: { key: k.first } }] }, options));
      const [nextKv, firstKv] = res.responses.map((r) => r.response_range.kvs[0]);
      const next = counterValue(nextKv?.value, k.next);
      const first = counterValue(firstKv?.value, k.first);
      const change = plan(next, first);
      if (change === null) return this.#sawCounters(next, first);
      const unchanged = (key: Buffer, kv: typeof nextKv) => ({ key, target: 'Mod' as const, result: 'Equal' as const, mod_revision: kv?.mod_revision ?? 0 });
      const committed = await withDeadline(this.#conn, this.#settings.etcdCallTimeoutMs, `${action} ${this.log}`, (options) => this.#conn.client.kv.txn({
        compare: [unchanged(k.next, nextKv), unchanged(k.first, firstKv)],
        success: [
          ...(change.deleteFrom === undefined ? [] : [{ request_delete_range: { key: k.record(change.deleteFrom), range_end: k.record(change.first) } }]),
          ...(change.next === undefined ? [] : [{ request_put: { key: k.next, value: Buffer.from(String(change.next)) } }]),
          { request_put: { key: k.first, value: Buffer.from(String(change.first)) } },
        ],
      }, options));
      if (committed.succeeded) return this.#sawCounters(change.next ?? next, change.first);
      if (attempt >= COUNTER_ATTEMPTS) {
        throw new VectorgateError(SqlState.SerializationFailure, `could not ${action} ${this.log}: its counters kept changing (${attempt} attempts)`, { hint: 'Retry.' });
      }
    }
  }

  #sawCounters(next: number, first: number): void {
    this.#lastSeq = Math.max(this.#lastSeq, next - 1);
    this.#firstSeq = first;
  }
}

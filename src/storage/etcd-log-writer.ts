// Appends to shard logs in etcd: one guarded transaction for all shards of a write (one Raft
// proposal: every shard's records or none), per the agreed design (issue 10, "Records in etcd"):
//   If(next_i == expected_i for every shard i; an absent next: createRevision == 0)
//   Then(Put r/<seq> for every record; Put next_i = expected_i + records_i)
//   Else(Get next_i …; Get the first record key of every earlier attempt whose outcome is unknown)
// - Guard failed (another writer appended): retry with the next values the Else branch returned,
//   at most etcdAppendMaxRetries times with jittered backoff, then 40001.
// - Unknown outcome (deadline passed, connection lost): the same transaction is sent again. A guarded
//   transaction cannot apply twice, and `next` only grows, so at most one attempt ever commits; if an
//   earlier one did, the retry's guard fails and its Else branch finds this write's request id in the
//   record key that attempt wrote — the write committed there, and its seqs are returned.
// - A write's total time is bounded by etcdWriteTimeoutMs; a process's appends to one shard go one
//   transaction at a time (they would only fail each other's guards), at most etcdMaxPendingAppends.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IRequestOp, ITxnRequest } from 'etcd3';
import { SqlState, VectorgateError } from '../errors.ts';
import { isUnknownOutcome, withDeadline, type EtcdConnection } from './etcd-client.ts';
import { counterValue, logKeys, type EtcdLogSettings, type LogKeys } from './etcd-log-read.ts';
import { encodeEtcdRecord, ETCD_RECORD_HEADER_BYTES, REQUEST_ID_BYTES, requestIdOf } from './etcd-record.ts';

export interface AppendPart {
  /** "<dir>/<shard>". */
  log: string;
  /** record-codec bodies, each one record of at most etcdRecordMaxBytes, in the order they apply. */
  bodies: Buffer[];
}

/** Per-operation overhead of a transaction's protobuf encoding, counted against etcdTxnMaxBytes. */
const OP_OVERHEAD_BYTES = 16;

export class EtcdLogWriter {
  readonly #conn: EtcdConnection;
  readonly #settings: EtcdLogSettings;
  /** Next seq per log as this writer last saw it (the guard corrects a stale one). */
  readonly #next = new Map<string, number>();
  readonly #queues = new Map<string, { tail: Promise<void>; waiting: number }>();
  #dbSize: { atMs: number; bytes: number } | null = null;

  constructor(conn: EtcdConnection, settings: EtcdLogSettings) {
    this.#conn = conn;
    this.#settings = settings;
  }

  /**
   * Appends every part's bodies as consecutive records of its log, all parts in one transaction;
   * resolves with each part's last seq once etcd's quorum committed them.
   */
  async appendAtomic(parts: readonly AppendPart[]): Promise<number[]> {
    const deadlineMs = Date.now() + this.#settings.etcdWriteTimeoutMs;
    const sorted = this.#checkParts(parts);
    await this.#checkDbSize();
    const release = await this.#acquire(sorted.map((p) => p.log));
    try {
      return await this.#append(parts, deadlineMs);
    } finally {
      release();
    }
  }

  /** Forgets a log's cached next (its shard closed). */
  forget(log: string): void { this.#next.delete(log); }

  /** The last seq this writer knows the log committed (its cached next − 1), or undefined when it has not written or read it. */
  lastSeqOf(log: string): number | undefined {
    const next = this.#next.get(log);
    return next === undefined ? undefined : next - 1;
  }

  #checkParts(parts: readonly AppendPart[]): AppendPart[] {
    if (parts.length === 0) throw new RangeError('appendAtomic needs at least one part');
    const logs = new Set(parts.map((p) => p.log));
    if (logs.size !== parts.length) throw new RangeError('appendAtomic got two parts for one log');
    let txnBytes = 0;
    for (const part of parts) {
      if (part.bodies.length === 0) throw new RangeError(`appendAtomic got no records for log ${part.log}`);
      const keys = logKeys(this.#settings.etcdPrefix, part.log);
      for (const body of part.bodies) {
        if (body.length > this.#settings.etcdRecordMaxBytes) {
          throw new VectorgateError(SqlState.ProgramLimitExceeded, `log record of ${body.length} bytes exceeds etcdRecordMaxBytes (${this.#settings.etcdRecordMaxBytes})`,
            { hint: 'Write fewer or smaller rows per statement.' });
        }
        txnBytes += keys.record(1).length + ETCD_RECORD_HEADER_BYTES + body.length + OP_OVERHEAD_BYTES;
      }
      txnBytes += 3 * (keys.next.length + 20 + OP_OVERHEAD_BYTES);
    }
    if (txnBytes > this.#settings.etcdTxnMaxBytes) {
      throw new VectorgateError(SqlState.ProgramLimitExceeded, `a write of ${txnBytes} bytes exceeds etcdTxnMaxBytes (${this.#settings.etcdTxnMaxBytes}), the limit of one etcd transaction`,
        { hint: 'Use smaller batches: fewer rows per statement, or COPY, which writes in batches.' });
    }
    return [...parts].sort((a, b) => (a.log < b.log ? -1 : a.log > b.log ? 1 : 0));
  }

  /** 53400 when etcd's database nears its quota (before etcd's NOSPACE alarm stops every write). */
  async #checkDbSize(): Promise<void> {
    const s = this.#settings;
    if (this.#dbSize === null || Date.now() - this.#dbSize.atMs > s.etcdDbSizeCacheMs) {
      try {
        const status = await withDeadline(this.#conn, s.etcdCallTimeoutMs, 'read its status', (options) => this.#conn.client.maintenance.status(options));
        this.#dbSize = { atMs: Date.now(), bytes: Number(status.dbSize) };
      } catch (err) {
        // Unreachable now: the write itself finds out (and retries within its deadline); the last size still counts.
        if (!isUnknownOutcome(err)) throw err;
      }
    }
    const limit = Math.floor(s.etcdQuotaBytes * s.etcdMaxDbFraction);
    if (this.#dbSize !== null && this.#dbSize.bytes > limit) {
      throw new VectorgateError(SqlState.ConfigurationLimitExceeded,
        `etcd's database holds ${this.#dbSize.bytes} bytes, over etcdMaxDbFraction (${s.etcdMaxDbFraction}) of etcdQuotaBytes (${s.etcdQuotaBytes}): writes wait until logs are truncated and etcd compacted`);
    }
  }

  /** Waits for this process's earlier appends to the logs (taken in sorted order: no deadlock). */
  async #acquire(logs: string[]): Promise<() => void> {
    const releases: (() => void)[] = [];
    for (const log of logs) {
      const queue = this.#queues.get(log) ?? { tail: Promise.resolve(), waiting: 0 };
      if (queue.waiting >= this.#settings.etcdMaxPendingAppends) {
        releases.forEach((r) => r());
        throw new VectorgateError(SqlState.ConfigurationLimitExceeded, `more than ${this.#settings.etcdMaxPendingAppends} appends are waiting for log ${log} (etcdMaxPendingAppends)`);
      }
      const before = queue.tail;
      let release!: () => void;
      queue.tail = new Promise((resolve) => { release = resolve; });
      queue.waiting++;
      this.#queues.set(log, queue);
      await before;
      releases.push(() => {
        release();
        if (--queue.waiting === 0) this.#queues.delete(log);
      });
    }
    return () => releases.forEach((r) => r());
  }

  async #append(parts: readonly AppendPart[], deadlineMs: number): Promise<number[]> {
    const keys = parts.map((p) => logKeys(this.#settings.etcdPrefix, p.log));
    const requestId = randomBytes(REQUEST_ID_BYTES);
    const unknown: number[][] = [];
    let expected: (number | undefined)[] = parts.map((p) => this.#next.get(p.log));
    let conflicts = 0;
    let lastFailure: VectorgateError | null = null;
    for (;;) {
      const remainingMs = deadlineMs - Date.now();
      if (remainingMs <= 0) throw this.#timedOut(lastFailure, unknown.length > 0);
      let sent: number[] | null = null;
      try {
        const known = expected.some((e) => e === undefined) ? await this.#readNext(keys, remainingMs) : expected as number[];
        expected = sent = known;
        const res = await withDeadline(this.#conn, remainingMs, `append to log ${keys.map((k) => k.log).join(', ')}`,
          (options) => this.#conn.client.kv.txn(this.#txn(parts, keys, known, requestId, unknown), options));
        if (res.succeeded) return this.#committed(parts, known);
        const responses = res.responses.map((r) => r.response_range.kvs[0]?.value);
        const earlier = unknown.findIndex((_, i) => requestIdOf(responses[keys.length + i] ?? Buffer.alloc(0))?.equals(requestId));
        if (earlier >= 0) return this.#committed(parts, unknown[earlier]!);
        expected = keys.map((k, i) => counterValue(responses[i], k.next));
        if (++conflicts > this.#settings.etcdAppendMaxRetries) {
          throw new VectorgateError(SqlState.SerializationFailure, `too much contention on shard log ${parts.map((p) => p.log).join(', ')}: ${conflicts} appends in a row lost to other writers`,
            { hint: 'Retry the write.' });
        }
        await sleep(Math.min(Math.max(0, deadlineMs - Date.now()), Math.random() * Math.min(200, 2 ** conflicts)));
      } catch (err) {
        if (!isUnknownOutcome(err)) throw err;
        lastFailure = err as VectorgateError;
        if (sent !== null && !unknown.some((u) => u[0] === sent![0])) unknown.push(sent);
        await sleep(Math.min(Math.max(0, deadlineMs - Date.now()), 50 + Math.random() * 200));
      }
    }
  }

  async #readNext(keys: LogKeys[], timeoutMs: number): Promise<number[]> {
    const res = await withDeadline(this.#conn, timeoutMs, `read log ${keys.map((k) => k.log).join(', ')}`,
      (options) => this.#conn.client.kv.txn({ success: keys.map((k) => ({ request_range: { key: k.next } })) }, options));
    return keys.map((k, i) => counterValue(res.responses[i]!.response_range.kvs[0]?.value, k.next));
  }

  #txn(parts: readonly AppendPart[], keys: LogKeys[], expected: number[], requestId: Buffer, unknown: number[][]): ITxnRequest {
    const success: IRequestOp[] = [];
    parts.forEach((part, i) => {
      part.bodies.forEach((body, j) => {
        const seq = expected[i]! + j;
        success.push({ request_put: { key: keys[i]!.record(seq), value: encodeEtcdRecord(seq, requestId, body) } });
      });
      success.push({ request_put: { key: keys[i]!.next, value: Buffer.from(String(expected[i]! + part.bodies.length)) } });
    });
    return {
      compare: keys.map((k, i) => (expected[i] === 1
        ? { key: k.next, target: 'Create' as const, result: 'Equal' as const, create_revision: 0 }
        : { key: k.next, target: 'Value' as const, result: 'Equal' as const, value: Buffer.from(String(expected[i])) })),
      success,
      failure: [
        ...keys.map((k) => ({ request_range: { key: k.next } })),
        ...unknown.map((attempt) => ({ request_range: { key: keys[0]!.record(attempt[0]!) } })),
      ],
    };
  }

  #committed(parts: readonly AppendPart[], expected: number[]): number[] {
    if (this.#next.size >= this.#settings.etcdNextCacheEntries) this.#next.clear();
    return parts.map((part, i) => {
      const next = expected[i]! + part.bodies.length;
      this.#next.set(part.log, next);
      return next - 1;
    });
  }

  #timedOut(lastFailure: VectorgateError | null, outcomeUnknown: boolean): VectorgateError {
    const endpoints = this.#conn.endpoints.join(', ');
    return new VectorgateError(SqlState.ConnectionFailure,
      `etcd is unreachable: the write did not commit within etcdWriteTimeoutMs (${this.#settings.etcdWriteTimeoutMs} ms) at ${endpoints}`, {
        detail: outcomeUnknown ? 'Its outcome is unknown: it was applied completely or not at all.' : 'Nothing of it was applied.',
        hint: 'Check that a quorum of the etcd members is running and reachable.',
        cause: lastFailure ?? undefined,
      });
  }
}

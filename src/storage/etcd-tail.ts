// Follows one shard's log in etcd and hands every record after a position to the replica's apply step,
// in order, exactly once (issue 10 design, "Tailing"):
// 1. range-read r/<applied+1>… in pages at one revision, applying each record (seq = applied + 1);
// 2. watch the r/ prefix from that revision + 1; an event with the next seq is applied, an older one
//    ignored, a later one (a gap) starts again at 1.
// The watch is ours alone: on error, disconnect, compaction or a gap it is dropped and a new range
// read starts from applied + 1 — never etcd3's automatic resume, which restarts at the newest revision
// after a reconnect and skips records (field notes). Every etcdTailCheckMs without an event the tail
// also reads `next`; records it has not applied mean the watch lost some silently: read again.
// A log truncated past applied + 1 cannot be followed: the tail stops with 55000 (rebuild from a snapshot).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Watcher } from 'etcd3';
import { SqlState, toVectorgateError, VectorgateError } from '../errors.ts';
import type { EtcdConnection } from './etcd-client.ts';
import { readCounters, readRecordPages, type EtcdLogSettings, type LogKeys } from './etcd-log-read.ts';
import { decodeEtcdRecord, seqOfRecordKey } from './etcd-record.ts';
import type { ApplyRecord } from './shard-log.ts';

/** Backoff between failed re-reads (etcd unreachable): it doubles from the first to the last. */
const RETRY_FIRST_MS = 100;
const RETRY_LAST_MS = 1_000;

/** A damaged record or a log truncated past the tail: reading again cannot help. Anything else (etcd unreachable, overloaded) is retried. */
const FATAL = new Set<string>([SqlState.DataCorrupted, SqlState.ObjectNotInPrerequisiteState]);

export interface TailEvents {
  /** A record was applied (its value's size), so the log's lastSeq and bytes can follow. */
  applied(seq: number, valueBytes: number): void;
  /** The tail stopped for good (apply threw, a damaged record, or the log was truncated past it). */
  stopped(err: VectorgateError): void;
  /** The tail read `next` (and had applied everything before it when caughtUp). */
  checked(next: number, caughtUp: boolean): void;
}

export class EtcdTail {
  readonly #conn: EtcdConnection;
  readonly #keys: LogKeys;
  readonly #settings: EtcdLogSettings;
  readonly #apply: ApplyRecord;
  readonly #events: TailEvents;
  readonly #abort = new AbortController();
  #applied: number;
  /** Bumped for every new watch: events of an older watch are ignored. */
  #generation = 0;
  #watcher: Watcher | null = null;
  #rereading: Promise<void> | null = null;
  #rereadAgain = false;
  #eventSinceCheck = false;
  #timer: NodeJS.Timeout | null = null;
  #applyFailure: VectorgateError | null = null;

  constructor(conn: EtcdConnection, keys: LogKeys, settings: EtcdLogSettings, afterSeq: number, apply: ApplyRecord, events: TailEvents) {
    this.#conn = conn;
    this.#keys = keys;
    this.#settings = settings;
    this.#applied = afterSeq;
    this.#apply = apply;
    this.#events = events;
  }

  get applied(): number { return this.#applied; }

  /** Applies what the log holds now and starts watching; rejects (and stops) when that fails. */
  async start(): Promise<void> {
    try {
      await this.#catchUp();
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.#timer = setInterval(() => void this.#check(), this.#settings.etcdTailCheckMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#dropWatch();
    await this.#rereading;
  }

  get #stopped(): boolean { return this.#abort.signal.aborted; }

  /** Range-reads from applied + 1 to the end, then watches from the read's revision + 1. */
  async #catchUp(): Promise<void> {
    this.#dropWatch();
    let revision: string | null = null;
    let empty = true;
    for await (const page of readRecordPages(this.#conn, this.#keys, this.#settings, this.#applied + 1, null)) {
      if (this.#stopped) return;
      revision = page.revision;
      empty &&= page.records.length === 0;
      const first = page.records[0];
      if (first !== undefined && first.seq > this.#applied + 1) throw this.#truncatedPast(first.seq);
      for (const record of page.records) {
        if (record.seq <= this.#applied) continue;
        this.#applyOne(record.seq, record.body, page.valueBytes / page.records.length);
      }
    }
    if (revision === null || this.#stopped) return;
    if (empty) {
      // Nothing after applied: fine unless the log was truncated beyond it (first > applied + 1).
      const { first } = await readCounters(this.#conn, this.#keys, this.#settings.etcdCallTimeoutMs);
      if (first > this.#applied + 1) throw this.#truncatedPast(first);
    }
    this.#events.checked(this.#applied + 1, true);
    this.#watch(BigInt(revision) + 1n);
  }

  #watch(fromRevision: bigint): void {
    const generation = ++this.#generation;
    const watcher = this.#conn.client.watch().inRange({ start: this.#keys.recordsStart, end: this.#keys.recordsEnd })
      .only('put').startRevision(String(fromRevision)).watcher();
    this.#watcher = watcher;
    const current = () => generation === this.#generation && !this.#stopped;
    watcher.on('put', (kv) => { if (current()) this.#onPut(kv.key.toString('latin1'), kv.value); });
    watcher.on('disconnected', () => { if (current()) this.#reread(); });
    watcher.on('error', () => { if (current()) this.#reread(); });
    watcher.on('end', () => { if (current()) this.#reread(); });
  }

  #dropWatch(): void {
    this.#generation++;
    const watcher = this.#watcher;
    this.#watcher = null;
    // Not awaited: etcd3's cancel waits for the server's answer, which a broken stream never sends.
    void watcher?.cancel().catch(() => {});
  }

  #onPut(key: string, value: Buffer): void {
    this.#eventSinceCheck = true;
    const seq = seqOfRecordKey(key);
    if (seq <= this.#applied) return;
    if (seq !== this.#applied + 1) return this.#reread();
    try {
      const record = decodeEtcdRecord(key, value);
      this.#applyOne(record.seq, record.body, value.length);
    } catch (err) {
      void this.#fail(toVectorgateError(err));
    }
  }

  #applyOne(seq: number, body: Buffer, valueBytes: number): void {
    try {
      this.#apply(seq, body);
    } catch (err) {
      this.#applyFailure = new VectorgateError(SqlState.InternalError, `record ${seq} of log ${this.#keys.log} could not be applied; the replica stopped following the log`, { cause: err });
      throw this.#applyFailure;
    }
    this.#applied = seq;
    this.#events.applied(seq, valueBytes);
  }

  /** Starts (or queues) one more range read; it retries with backoff while etcd is unreachable. */
  #reread(): void {
    if (this.#stopped) return;
    this.#dropWatch();
    if (this.#rereading !== null) {
      this.#rereadAgain = true;
      return;
    }
    this.#rereading = this.#rereadLoop().finally(() => { this.#rereading = null; });
  }

  async #rereadLoop(): Promise<void> {
    let delayMs = RETRY_FIRST_MS;
    while (!this.#stopped) {
      this.#rereadAgain = false;
      try {
        await this.#catchUp();
        if (!this.#rereadAgain) return;
      } catch (err) {
        const failure = toVectorgateError(err);
        if (failure === this.#applyFailure || FATAL.has(failure.code)) return this.#fail(failure);
        await sleep(delayMs, undefined, { signal: this.#abort.signal }).catch(() => {});
        delayMs = Math.min(RETRY_LAST_MS, delayMs * 2);
      }
    }
  }

  async #check(): Promise<void> {
    if (this.#stopped || this.#rereading !== null) return;
    const eventArrived = this.#eventSinceCheck;
    this.#eventSinceCheck = false;
    try {
      const { next } = await readCounters(this.#conn, this.#keys, this.#settings.etcdCallTimeoutMs);
      this.#events.checked(next, next - 1 <= this.#applied);
      if (next - 1 > this.#applied && !eventArrived && !this.#eventSinceCheck) this.#reread();
    } catch {
      // etcd unreachable: the watch reports that itself (disconnected), and the next check tries again.
    }
  }

  async #fail(err: VectorgateError): Promise<void> {
    this.#abort.abort();
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#dropWatch();
    this.#events.stopped(err);
  }

  #truncatedPast(first: number): VectorgateError {
    return new VectorgateError(SqlState.ObjectNotInPrerequisiteState,
      `log ${this.#keys.log} was truncated past the replica: it holds records from ${first}, the replica needs ${this.#applied + 1}`,
      { hint: 'Rebuild the replica from a peer\'s snapshot.' });
  }
}

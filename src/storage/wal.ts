// Segmented per-shard write-ahead log with group commit. Appends that arrive while a write is in
// progress (or in the same tick) share the next single write + fdatasync; each append's promise
// resolves only after that fdatasync, with its sequence number. The tail's apply step sees every record in
// sequence order before any of those promises resolve: the shard applies there, so its state never
// runs ahead of the log and never skips a record.
//
// Failures. Every failed file operation rejects the appends it was writing and every append queued
// behind them, with 53100 disk_full for ENOSPC/EDQUOT and 58030 io_error otherwise (errors.ts maps
// them); no promise is left pending. What happens on disk:
// - write (possibly torn after some bytes) or fdatasync of a group: the group is not acknowledged.
//   After a failed fsync the page cache's state is unknown — Linux may have marked the dirty pages
//   clean and will not report the error again, so retrying the fsync can succeed falsely
//   (https://wiki.postgresql.org/wiki/Fsync_Errors). So the log never retries it: it closes the
//   segment, truncates it back to the length its last successful fdatasync made durable (the
//   rejected records leave the file, so they cannot reappear after a restart), fsyncs the file and
//   the directory, and reopens it for appending. Rolling to a new segment instead would keep the
//   unacknowledged bytes in the old one, and only the last segment may end in a torn tail.
// - rollover (creating the next segment, or fsyncing the directory after it): the group before it
//   was durable and is acknowledged; the log stays in the old segment, removes the half-made new
//   file, and retries the rollover after the next group.
// - the repair itself (truncate, fsync, reopen) can fail too, e.g. while the disk is still full: the
//   log then stays broken and repeats the repair before the next group, rejecting that group with
//   the repair's error if it fails again. So once space is free, appends succeed without a restart.
// - the apply step throwing (the shard cannot apply a durable record) is not repairable: the record is
//   in the log, the shard is behind it, so the log refuses all further appends until a restart
//   replays it.
import { join } from 'node:path';
import { fileSystemError, SqlState, toVectorgateError, VectorgateError } from '../errors.ts';
import { encodeHeader, HEADER_BYTES } from './record-codec.ts';
import { nodeWalFileSystem, type WalFile, type WalFileSystem } from './wal-fs.ts';
import { corrupted, scanSegment, type RawRecord } from './wal-scan.ts';
import type { ApplyRecord, ShardLog } from './shard-log.ts';

export type { WalFile, WalFileSystem } from './wal-fs.ts';

export interface WalOptions {
  walSegmentBytes: number;
  walGroupCommitMaxBytes: number;
  walMaxPendingAppends: number;
  /** The file operations the log performs (tests inject failures here); node:fs when absent. */
  walFileSystem?: WalFileSystem;
}

interface Segment { firstSeq: number; name: string; bytes: number }
interface Pending { body: Buffer; resolve: (seq: number) => void; reject: (err: unknown) => void }

const SUFFIX = '.wal';
const segmentName = (firstSeq: number) => `${String(firstSeq).padStart(20, '0')}${SUFFIX}`;

export class Wal implements ShardLog {
  readonly dir: string;
  readonly #options: WalOptions;
  readonly #fs: WalFileSystem;
  readonly #segments: Segment[];
  #handle: WalFile | null = null;
  #lastSeq: number;
  #pending: Pending[] = [];
  #flushing = false;
  /** An I/O failure the files have not been repaired from yet (see the header). */
  #broken: VectorgateError | null = null;
  /** A failure no repair can undo: the apply step threw. */
  #fatal: VectorgateError | null = null;
  #closed = false;
  #groups = 0;
  /** The tail's apply step (tail()); none until a tail begins. */
  #apply: ApplyRecord = () => {};

  private constructor(dir: string, options: WalOptions, segments: Segment[], lastSeq: number) {
    this.dir = dir;
    this.#options = options;
    this.#fs = options.walFileSystem ?? nodeWalFileSystem;
    this.#segments = segments;
    this.#lastSeq = lastSeq;
  }

  /** Opens (or creates) the log in `dir`, cutting off a torn tail; throws XX001 on corruption. */
  static async open(dir: string, options: WalOptions): Promise<Wal> {
    const fs = options.walFileSystem ?? nodeWalFileSystem;
    const names = (await io('open directory', dir, () => fs.readdir(dir))).filter((n) => n.endsWith(SUFFIX)).sort();
    const segments: Segment[] = [];
    let lastSeq = 0;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const firstSeq = Number(name.slice(0, -SUFFIX.length));
      if (!Number.isSafeInteger(firstSeq) || firstSeq < 1) throw corrupted(name, 0, 'bad segment name');
      if (i > 0 && firstSeq !== lastSeq + 1) throw corrupted(name, 0, `segment starts at ${firstSeq}, expected ${lastSeq + 1}`);
      const path = join(dir, name);
      const buf = await io('read file', path, () => fs.readFile(path));
      const scan = scanSegment(path, buf, firstSeq, i === names.length - 1);
      if (scan.validBytes < buf.length) {
        await io('truncate file', path, () => fs.truncate(path, scan.validBytes));
        await io('fsync file', path, () => fs.fsyncFile(path));
      }
      segments.push({ firstSeq, name, bytes: scan.validBytes });
      lastSeq = scan.records.length > 0 ? scan.records.at(-1)!.seq : firstSeq - 1;
    }
    const wal = new Wal(dir, options, segments, lastSeq);
    await wal.#openActive();
    return wal;
  }

  /** The last durable sequence number (0 for an empty log). */
  get lastSeq(): number { return this.#lastSeq; }

  /** The oldest sequence number still in the log. */
  get firstSeq(): number { return this.#segments[0]?.firstSeq ?? this.#lastSeq + 1; }

  /** Group commits (write + fdatasync) done since open. */
  get groupCommits(): number { return this.#groups; }

  get bytes(): number { return this.#segments.reduce((n, s) => n + s.bytes, 0); }

  /** This process writes every record, so the log always knows all of them. */
  get caughtUpAtMs(): number { return Date.now(); }

  /** The failure the log is still repairing from, or null when it is healthy. */
  get failure(): VectorgateError | null { return this.#fatal ?? this.#broken; }

  /**
   * Continues the numbering after `seq` when the log holds nothing newer (after a snapshot covered
   * everything and the log was truncated, or a snapshot from elsewhere was installed).
   */
  async startAfter(seq: number): Promise<void> {
    if (seq <= this.#lastSeq) return;
    if (this.#pending.length > 0 || this.#flushing) throw new Error('startAfter while appends are in flight');
    await this.#handle?.close();
    this.#handle = null;
    for (const s of this.#segments.splice(0)) await this.#io('remove file', s.name, (path) => this.#fs.remove(path));
    this.#lastSeq = seq;
    await this.#openActive();
  }

  append(body: Buffer): Promise<number> {
    if (this.#closed) return Promise.reject(new VectorgateError(SqlState.AdminShutdown, 'the log is closed'));
    if (this.#fatal !== null) return Promise.reject(this.#fatal);
    if (this.#pending.length >= this.#options.walMaxPendingAppends) {
      return Promise.reject(new VectorgateError(SqlState.ConfigurationLimitExceeded,
        `more than ${this.#options.walMaxPendingAppends} log appends are waiting`));
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ body, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        setImmediate(() => void this.#flushLoop());
      }
    });
  }

  /** Records with seq ≥ fromSeq, in order (reads segment files; meant for recovery). */
  async *records(fromSeq: number): AsyncGenerator<RawRecord> {
    for (let i = 0; i < this.#segments.length; i++) {
      const segment = this.#segments[i]!;
      const next = this.#segments[i + 1];
      if (next !== undefined && next.firstSeq <= fromSeq) continue;
      const path = join(this.dir, segment.name);
      const buf = (await this.#io('read file', segment.name, (p) => this.#fs.readFile(p))).subarray(0, segment.bytes);
      for (const record of scanSegment(path, buf, segment.firstSeq, false).records) {
        if (record.seq >= fromSeq) yield record;
      }
    }
  }

  /**
   * Delivers the records after afterSeq the log holds now, then every record appended from here on,
   * each before its append resolves (this process is the log's only writer).
   */
  async tail(afterSeq: number, apply: ApplyRecord): Promise<void> {
    // The flush loop of an append that has already resolved ends a tick later.
    while (this.#flushing && this.#pending.length === 0) await new Promise((r) => setImmediate(r));
    if (this.#pending.length > 0 || this.#flushing) throw new Error('tail() while appends are in flight');
    for await (const record of this.records(afterSeq + 1)) apply(record.seq, record.body);
    this.#apply = apply;
  }

  /** Removes whole segments whose records all precede `seq` (never the active segment). */
  async truncateBefore(seq: number): Promise<void> {
    while (this.#segments.length > 1 && this.#segments[1]!.firstSeq <= seq) {
      const [old] = this.#segments.splice(0, 1);
      await this.#io('remove file', old!.name, (path) => this.#fs.remove(path));
    }
    await io('fsync directory', this.dir, () => this.#fs.fsyncDir(this.dir));
  }

  /** Waits for appends in flight, then closes; later appends fail with 57P01. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#flushing) await new Promise((r) => setImmediate(r));
    const handle = this.#handle;
    this.#handle = null;
    await handle?.close();
  }

  async #openActive(): Promise<void> {
    let active = this.#segments.at(-1);
    if (active === undefined) {
      active = { firstSeq: this.#lastSeq + 1, name: segmentName(this.#lastSeq + 1), bytes: 0 };
      this.#segments.push(active);
    }
    this.#handle = await this.#io('open file', active.name, (path) => this.#fs.openAppend(path));
    await io('fsync directory', this.dir, () => this.#fs.fsyncDir(this.dir));
  }

  /** Writes groups until nothing is pending; never rejects, and settles every append it takes. */
  async #flushLoop(): Promise<void> {
    try {
      while (this.#pending.length > 0 && this.#fatal === null) {
        if (this.#broken !== null && !(await this.#repair())) this.#rejectAll([], this.#broken!);
        else await this.#flushGroup();
      }
    } catch (err) {
      this.#rejectAll([], toVectorgateError(err));
    } finally {
      this.#flushing = false;
    }
  }

  async #flushGroup(): Promise<void> {
    const group = this.#takeGroup();
    const buffers: Buffer[] = [];
    group.forEach((p, i) => buffers.push(encodeHeader(this.#lastSeq + 1 + i, p.body), p.body));
    const data = Buffer.concat(buffers);
    const active = this.#segments.at(-1)!;
    try {
      await this.#io('extend file', active.name, () => this.#writeAll(data));
      await this.#io('fsync file', active.name, () => this.#handle!.datasync());
    } catch (err) {
      await this.#fail(group, toVectorgateError(err));
      return;
    }
    active.bytes += data.length;
    this.#groups++;
    const firstSeq = this.#lastSeq + 1;
    this.#lastSeq += group.length;
    for (let i = 0; i < group.length; i++) {
      try {
        this.#apply(firstSeq + i, group[i]!.body);
      } catch (err) {
        this.#fatal = new VectorgateError(SqlState.InternalError,
          `record ${firstSeq + i} is in the log but could not be applied; the log accepts no writes until a restart`, { cause: err });
        this.#rejectAll(group.slice(i), this.#fatal);
        return;
      }
      group[i]!.resolve(firstSeq + i);
    }
    if (active.bytes >= this.#options.walSegmentBytes) {
      try { await this.#rollover(); } catch (err) { await this.#fail([], toVectorgateError(err)); }
    }
  }

  #takeGroup(): Pending[] {
    let bytes = 0;
    let count = 0;
    for (const p of this.#pending) {
      const size = HEADER_BYTES + p.body.length;
      if (count > 0 && bytes + size > this.#options.walGroupCommitMaxBytes) break;
      bytes += size;
      count++;
    }
    return this.#pending.splice(0, count);
  }

  async #writeAll(data: Buffer): Promise<void> {
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await this.#handle!.write(data, written, data.length - written);
      written += bytesWritten;
    }
  }

  /** Starts the next segment; the old one stays active unless the new one is durably created. */
  async #rollover(): Promise<void> {
    const next: Segment = { firstSeq: this.#lastSeq + 1, name: segmentName(this.#lastSeq + 1), bytes: 0 };
    const file = await this.#io('create file', next.name, (path) => this.#fs.openAppend(path));
    try {
      await io('fsync directory', this.dir, () => this.#fs.fsyncDir(this.dir));
    } catch (err) {
      await file.close().catch(() => undefined);
      throw err;
    }
    const old = this.#handle;
    this.#handle = file;
    this.#segments.push(next);
    // The old segment was fdatasync'd with its last group; a failure to close it loses nothing.
    await old?.close().catch(() => undefined);
  }

  /** Rejects `group` and everything queued, marks the log broken and tries the repair at once. */
  async #fail(group: Pending[], error: VectorgateError): Promise<void> {
    this.#broken = error;
    this.#rejectAll(group, error);
    await this.#repair();
  }

  #rejectAll(group: Pending[], error: VectorgateError): void {
    for (const p of [...group, ...this.#pending.splice(0)]) p.reject(error);
  }

  /**
   * Makes the files match what was acknowledged: removes segment files newer than the active one (a
   * half-made rollover), truncates the active segment to its durable length, fsyncs it and the
   * directory, and reopens it. False (and #broken updated) when any step fails.
   */
  async #repair(): Promise<boolean> {
    const active = this.#segments.at(-1)!;
    const path = join(this.dir, active.name);
    const old = this.#handle;
    this.#handle = null;
    await old?.close().catch(() => undefined);
    let file: WalFile | null = null;
    try {
      const names = await io('open directory', this.dir, () => this.#fs.readdir(this.dir));
      for (const name of names) {
        if (name.endsWith(SUFFIX) && name > active.name) await this.#io('remove file', name, (p) => this.#fs.remove(p));
      }
      // Opened first, so that a missing active segment is created again (appends go to the end anyway).
      file = await io('open file', path, () => this.#fs.openAppend(path));
      await io('truncate file', path, () => this.#fs.truncate(path, active.bytes));
      await io('fsync file', path, () => this.#fs.fsyncFile(path));
      await io('fsync directory', this.dir, () => this.#fs.fsyncDir(this.dir));
    } catch (err) {
      await file?.close().catch(() => undefined);
      this.#broken = toVectorgateError(err);
      return false;
    }
    this.#handle = file;
    this.#broken = null;
    return true;
  }

  /** Runs a file operation on `name` in this log's directory, mapping its failure to a SQLSTATE. */
  #io<T>(action: string, name: string, operation: (path: string) => Promise<T>): Promise<T> {
    const path = join(this.dir, name);
    return io(action, path, () => operation(path));
  }
}

async function io<T>(action: string, path: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    throw fileSystemError(err, action, path);
  }
}

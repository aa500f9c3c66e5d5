// Segmented per-shard write-ahead log with group commit. Appends that arrive while a write is in
// progress (or in the same tick) share the next single write + fdatasync; each append's promise
// resolves only after that fdatasync, with its sequence number. `onDurable` sees every record in
// sequence order before any of those promises resolve: the shard applies there, so its state never
// runs ahead of the log and never skips a record. After a failed write or fsync the log refuses all
// further appends: the page cache state is unknown, and retrying an fsync can report success falsely.
import { open, readdir, readFile, rm, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SqlState, VectorgateError } from '../errors.ts';
import { fsyncDir, fsyncPath } from './fsync.ts';
import { encodeHeader, HEADER_BYTES } from './record-codec.ts';
import { corrupted, scanSegment, type RawRecord } from './wal-scan.ts';

export interface WalOptions {
  walSegmentBytes: number;
  walGroupCommitMaxBytes: number;
  walMaxPendingAppends: number;
}

interface Segment { firstSeq: number; name: string; bytes: number }
interface Pending { body: Buffer; resolve: (seq: number) => void; reject: (err: unknown) => void }

const SUFFIX = '.wal';
const segmentName = (firstSeq: number) => `${String(firstSeq).padStart(20, '0')}${SUFFIX}`;

export class Wal {
  readonly dir: string;
  readonly #options: WalOptions;
  readonly #segments: Segment[];
  #handle: FileHandle | null = null;
  #lastSeq: number;
  #pending: Pending[] = [];
  #flushing = false;
  #failure: unknown = null;
  #closed = false;
  #groups = 0;
  onDurable: (seq: number, body: Buffer) => void = () => {};

  private constructor(dir: string, options: WalOptions, segments: Segment[], lastSeq: number) {
    this.dir = dir;
    this.#options = options;
    this.#segments = segments;
    this.#lastSeq = lastSeq;
  }

  /** Opens (or creates) the log in `dir`, cutting off a torn tail; throws XX001 on corruption. */
  static async open(dir: string, options: WalOptions): Promise<Wal> {
    const names = (await readdir(dir)).filter((n) => n.endsWith(SUFFIX)).sort();
    const segments: Segment[] = [];
    let lastSeq = 0;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const firstSeq = Number(name.slice(0, -SUFFIX.length));
      if (!Number.isSafeInteger(firstSeq) || firstSeq < 1) throw corrupted(name, 0, 'bad segment name');
      if (i > 0 && firstSeq !== lastSeq + 1) throw corrupted(name, 0, `segment starts at ${firstSeq}, expected ${lastSeq + 1}`);
      const path = join(dir, name);
      const buf = await readFile(path);
      const scan = scanSegment(path, buf, firstSeq, i === names.length - 1);
      if (scan.validBytes < buf.length) {
        await truncate(path, scan.validBytes);
        await fsyncPath(path);
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

  /**
   * Continues the numbering after `seq` when the log holds nothing newer (after a snapshot covered
   * everything and the log was truncated, or a snapshot from elsewhere was installed).
   */
  async startAfter(seq: number): Promise<void> {
    if (seq <= this.#lastSeq) return;
    if (this.#pending.length > 0 || this.#flushing) throw new Error('startAfter while appends are in flight');
    await this.#handle?.close();
    this.#handle = null;
    for (const s of this.#segments.splice(0)) await rm(join(this.dir, s.name), { force: true });
    this.#lastSeq = seq;
    await this.#openActive();
  }

  append(body: Buffer): Promise<number> {
    if (this.#closed) return Promise.reject(new VectorgateError(SqlState.AdminShutdown, 'the log is closed'));
    if (this.#failure !== null) return Promise.reject(this.#failed());
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
      const buf = (await readFile(path)).subarray(0, segment.bytes);
      for (const record of scanSegment(path, buf, segment.firstSeq, false).records) {
        if (record.seq >= fromSeq) yield record;
      }
    }
  }

  /** Removes whole segments whose records all precede `seq` (never the active segment). */
  async truncateBefore(seq: number): Promise<void> {
    while (this.#segments.length > 1 && this.#segments[1]!.firstSeq <= seq) {
      const [old] = this.#segments.splice(0, 1);
      await rm(join(this.dir, old!.name), { force: true });
    }
    await fsyncDir(this.dir);
  }

  /** Waits for appends in flight, then closes; later appends fail with 57P01. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#flushing) await new Promise((r) => setImmediate(r));
    await this.#handle?.close();
    this.#handle = null;
  }

  async #openActive(): Promise<void> {
    let active = this.#segments.at(-1);
    if (active === undefined) {
      active = { firstSeq: this.#lastSeq + 1, name: segmentName(this.#lastSeq + 1), bytes: 0 };
      this.#segments.push(active);
    }
    this.#handle = await open(join(this.dir, active.name), 'a');
    await fsyncDir(this.dir);
  }

  async #flushLoop(): Promise<void> {
    try {
      while (this.#pending.length > 0 && this.#failure === null) await this.#flushGroup();
    } finally {
      this.#flushing = false;
    }
  }

  async #flushGroup(): Promise<void> {
    const group = this.#takeGroup();
    const buffers: Buffer[] = [];
    group.forEach((p, i) => buffers.push(encodeHeader(this.#lastSeq + 1 + i, p.body), p.body));
    const data = Buffer.concat(buffers);
    try {
      await this.#writeAll(data);
      await this.#handle!.datasync();
    } catch (err) {
      this.#failure = err;
      for (const p of [...group, ...this.#pending.splice(0)]) p.reject(this.#failed());
      return;
    }
    this.#segments.at(-1)!.bytes += data.length;
    this.#groups++;
    const firstSeq = this.#lastSeq + 1;
    this.#lastSeq += group.length;
    for (let i = 0; i < group.length; i++) {
      try {
        this.onDurable(firstSeq + i, group[i]!.body);
      } catch (err) {
        this.#failure = err;
        for (const p of [...group.slice(i), ...this.#pending.splice(0)]) p.reject(this.#failed());
        return;
      }
      group[i]!.resolve(firstSeq + i);
    }
    if (this.#segments.at(-1)!.bytes >= this.#options.walSegmentBytes) {
      try { await this.#rollover(); } catch (err) { this.#failure = err; }
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

  async #rollover(): Promise<void> {
    await this.#handle!.close();
    this.#segments.push({ firstSeq: this.#lastSeq + 1, name: segmentName(this.#lastSeq + 1), bytes: 0 });
    this.#handle = await open(join(this.dir, this.#segments.at(-1)!.name), 'a');
    await fsyncDir(this.dir);
  }

  #failed(): VectorgateError {
    return new VectorgateError(SqlState.InternalError, 'the write-ahead log failed earlier and accepts no writes', { cause: this.#failure });
  }
}

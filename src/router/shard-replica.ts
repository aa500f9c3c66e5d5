// One shard replica: the state machine over its log (a ShardLog: the local WAL, or etcd), and its
// snapshots on local disk. open() = newest intact snapshot + replay of the log after it; whoever hosts
// the replica opens the log and hands it over (the replica closes it). write() validates, appends one record
// and resolves once the record is fsync'd and applied. prepare() appends a multi-shard batch's part,
// which takes effect at decide(txid, true) (after the collection's decision log holds the commit).
// Records are applied strictly in log order: an undecided prepared record holds back the records
// after it (durable, their acks waiting) until its decision, so replay reproduces the same order.
// Deciding needs only durable prepares, never an apply, so the hold-back cannot deadlock.
import type { Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { Shard, type SearchOptions, type ShardHit, type StoredRow } from '../engine/shard.ts';
import type { SearchTrace } from '../engine/shard-search.ts';
import { captureShard, restoreShard } from '../engine/shard-snapshot.ts';
import type { IndexSpec } from '../engine/vector-index.ts';
import { decodeBody, encodeBody, HEADER_BYTES, txidOf, type Op } from '../storage/record-codec.ts';
import { listSnapshots, verifySnapshot, writeSnapshot } from '../storage/snapshot.ts';
import { SnapshotPolicy } from '../storage/snapshot-policy.ts';
import type { ShardLog } from '../storage/shard-log.ts';

/** replica: which replica answered (set by a transport that has several to choose from). */
export interface ExplainedSearch { hits: ShardHit[]; trace: SearchTrace; ms: number; lastApplied: number; replica?: string }

export interface ReplicaOptions {
  /**
   * 0 (default): a record's rows join the vector index as it is applied, before its write is
   * acknowledged. N: up to N rows join at once like that; more join in steps of at most N rows, one per
   * event-loop turn, so a replica on a thread that also serves clients (InProcessTransport) never
   * blocks it for a whole batch; until then searches score them exactly.
   */
  indexStepRows?: number;
}

interface Unapplied { seq: number; txid: number | null; ops: Op[] }
interface Waiter { resolve: (seq: number) => void; reject: (err: unknown) => void }

/** payloadBytes: UTF-8 bytes of the stored payloads' JSON texts (a running total, for quotas); unindexed: rows not in the HNSW index yet. */
export interface ReplicaStats { count: number; unindexed: number; payloadBytes: number; lastApplied: number; logBytes: number; snapshotSeq: number; memoryBytes: number }

export class ShardReplica {
  readonly dir: string;
  readonly #shard: Shard;
  readonly #wal: ShardLog;
  readonly #policy: SnapshotPolicy;
  /** Ops of records in flight, so that applying them does not decode what was just encoded. */
  readonly #inFlight = new WeakMap<Buffer, Op[]>();
  /** Durable records not applied yet, in log order; the first is an undecided prepared record. */
  readonly #unapplied: Unapplied[] = [];
  /** Undecided prepared records: txid → seq. */
  readonly #prepared = new Map<number, number>();
  /** Decisions for prepared records that are not applied yet: txid → commit. */
  readonly #decisions = new Map<number, boolean>();
  /** Writers waiting for their record to be applied, by seq. */
  readonly #waiters = new Map<number, Waiter>();
  /** Prepared records the log still holds (seq, txid), oldest first: what the decision log must keep. */
  #retained: { seq: number; txid: number }[];
  /** Prepared records replay applied as committed: txid → seq (a decide arriving after a reopen answers with it). */
  #replayedCommits = new Map<number, number>();
  #failure: unknown = null;
  #snapshotSeq: number;
  #bytesSinceSnapshot = 0;
  #snapshotting: Promise<void> | null = null;
  /** The last time everything the log knew of was applied (ms epoch): what a bounded read checks. */
  #caughtUpAt = 0;
  /** Called after records were applied (reads waiting for a position). */
  readonly #appliedListeners = new Set<() => void>();
  /** See ReplicaOptions.indexStepRows. */
  readonly #indexStepRows: number;
  /** Most rows one index add takes (its flat copy of their vectors is bounded by it). */
  readonly #indexBatchRows: number;
  #indexing: NodeJS.Immediate | null = null;
  #closed = false;

  private constructor(dir: string, shard: Shard, wal: ShardLog, config: Config, snapshotSeq: number, retained: { seq: number; txid: number }[], options: ReplicaOptions) {
    this.dir = dir;
    this.#indexStepRows = options.indexStepRows ?? 0;
    this.#indexBatchRows = config.indexBatchRows;
    this.#shard = shard;
    this.#wal = wal;
    this.#policy = new SnapshotPolicy(config);
    this.#snapshotSeq = snapshotSeq;
    this.#retained = retained;
  }

  /** The apply step the log's tail calls for every durable record, in order. */
  #onDurable(seq: number, body: Buffer): void {
    const own = this.#inFlight.get(body);
    const ops = own ?? decodeBody(body).ops;
    // A record another process appended (a shared etcd log) counts towards the snapshot cadence too.
    if (own === undefined) {
      this.#bytesSinceSnapshot += HEADER_BYTES + body.length;
      this.#policy.recordAppend(HEADER_BYTES + body.length, Date.now());
    }
    const txid = txidOf(body);
    if (txid !== null) {
      this.#prepared.set(txid, seq);
      this.#retained.push({ seq, txid });
    }
    this.#unapplied.push({ seq, txid, ops });
    this.#drain();
  }

  /**
   * Opens the replica; `committed` are the txids the collection's decision log holds commits for:
   * a prepared record of any other txid is skipped (its batch never committed).
   */
  static async open(dir: string, spec: IndexSpec, config: Config, wal: ShardLog, committed: ReadonlySet<number> = new Set(), options: ReplicaOptions = {}): Promise<ShardReplica> {
    const shard = await newestShard(dir, spec, config);
    const snapshotSeq = shard.lastApplied;
    if (wal.lastSeq > shard.lastApplied && wal.firstSeq > shard.lastApplied + 1) {
      throw new VectorgateError(SqlState.DataCorrupted,
        `shard ${dir}: the log starts at ${wal.firstSeq} but the newest snapshot covers only ${shard.lastApplied}`, { severity: 'FATAL' });
    }
    let replayed = 0;
    let replayedTo = shard.lastApplied;
    const retained: { seq: number; txid: number }[] = [];
    const replayedCommits = new Map<number, number>();
    // From the log's start, not the snapshot's: an older snapshot's recovery would need those txids too.
    for await (const record of wal.records(wal.firstSeq)) {
      const txid = txidOf(record.body);
      if (txid !== null) retained.push({ seq: record.seq, txid });
      if (txid !== null && committed.has(txid)) replayedCommits.set(txid, record.seq);
      if (record.seq <= shard.lastApplied) continue;
      replayedTo = record.seq;
      shard.apply(record.seq, txid === null || committed.has(txid) ? decodeBody(record.body).ops : []);
      replayed += HEADER_BYTES + record.body.length;
    }
    if (shard.lastApplied !== replayedTo) throw new Error(`shard ${dir}: replay ended at ${shard.lastApplied}, not at the log's ${replayedTo}`);
    if (wal.lastSeq < shard.lastApplied) await wal.startAfter(shard.lastApplied);
    const replica = new ShardReplica(dir, shard, wal, config, snapshotSeq, retained, options);
    // Everything replayed joins the vector index in one multi-threaded batch (or in steps, see #index).
    replica.#index();
    replica.#bytesSinceSnapshot = replayed;
    replica.#replayedCommits = replayedCommits;
    // From what was replayed: a shared log (etcd) may have grown since records() read it.
    await wal.tail(replayedTo, (seq, body) => replica.#onDurable(seq, body));
    return replica;
  }

  get shard(): Shard { return this.#shard; }

  /** The highest seq applied to the state. */
  get lastApplied(): number { return this.#shard.lastApplied; }

  /**
   * When the replica last had applied every record its log knew of: now while it is caught up. A
   * local log's replica applies each record before its append is acknowledged, so it always is, but
   * for a prepared record waiting for its decision.
   */
  get caughtUpAt(): number {
    if (this.#shard.lastApplied >= this.#wal.lastSeq) this.#caughtUpAt = Math.max(this.#caughtUpAt, this.#wal.caughtUpAtMs);
    return this.#caughtUpAt;
  }

  /** Calls listener after each run of applied records; returns the unsubscribe function. */
  onApplied(listener: () => void): () => void {
    this.#appliedListeners.add(listener);
    return () => this.#appliedListeners.delete(listener);
  }

  /** Resolves with the record's sequence number once it is durable and applied. */
  async write(ops: Op[]): Promise<number> {
    return this.#applied(await this.#append(ops, null));
  }

  /** Appends a multi-shard batch's part; resolves with its seq once durable (not applied: see decide). */
  prepare(txid: number, ops: Op[]): Promise<number> {
    return this.#append(ops, txid);
  }

  /**
   * The decision for a prepared txid: commit applies it (resolving with its seq once applied), abort
   * drops it. A txid never prepared here (its prepare failed) has nothing to decide: null. One that
   * this replica's open already applied as committed (it was reopened in between) answers its seq.
   */
  async decide(txid: number, commit: boolean): Promise<number | null> {
    const seq = this.#prepared.get(txid);
    if (seq === undefined) return commit ? this.#replayedCommits.get(txid) ?? null : null;
    this.#decisions.set(txid, commit);
    this.#drain();
    return commit ? this.#applied(seq) : null;
  }

  /** The oldest txid of a prepared record this log still holds (null: none). */
  oldestRetainedTxid(): number | null {
    const firstSeq = this.#wal.firstSeq;
    this.#retained = this.#retained.filter((r) => r.seq >= firstSeq);
    for (const [txid, seq] of this.#replayedCommits) if (seq < firstSeq) this.#replayedCommits.delete(txid);
    return this.#retained.reduce<number | null>((min, r) => (min === null || r.txid < min ? r.txid : min), null);
  }

  async #append(ops: Op[], txid: number | null): Promise<number> {
    if (this.#failure !== null) throw this.#failed();
    this.#shard.checkWrite(ops);
    const body = encodeBody(this.#shard.spec.dims, ops, txid);
    this.#inFlight.set(body, ops);
    const seq = await this.#wal.append(body);
    this.#bytesSinceSnapshot += HEADER_BYTES + body.length;
    this.#policy.recordAppend(HEADER_BYTES + body.length, Date.now());
    return seq;
  }

  /** Applies durable records in log order, up to the first undecided prepared record. */
  #drain(): void {
    try {
      for (let head = this.#unapplied[0]; head !== undefined; head = this.#unapplied[0]) {
        let ops = head.ops;
        if (head.txid !== null) {
          const commit = this.#decisions.get(head.txid);
          if (commit === undefined) return;
          this.#decisions.delete(head.txid);
          this.#prepared.delete(head.txid);
          if (!commit) ops = [];
        }
        this.#unapplied.shift();
        this.#shard.apply(head.seq, ops);
        this.#index();
        const waiter = this.#waiters.get(head.seq);
        this.#waiters.delete(head.seq);
        waiter?.resolve(head.seq);
        if (this.#shard.lastApplied >= this.#wal.lastSeq) this.#caughtUpAt = Math.max(this.#caughtUpAt, this.#wal.caughtUpAtMs);
        for (const listener of this.#appliedListeners) listener();
      }
    } catch (err) {
      // A record that cannot be applied is a bug: the state no longer follows the log, so stop.
      this.#fail(err);
      throw err;
    }
  }

  #fail(err: unknown): void {
    this.#failure = err;
    for (const waiter of this.#waiters.values()) waiter.reject(this.#failed());
    this.#waiters.clear();
  }

  /** Builds the index entries of applied rows: at once, or one bounded step per event-loop turn. */
  #index(): void {
    // What fits in one step joins at once (a small write is indexed before its ack, as on a thread).
    if (this.#indexStepRows === 0 || (this.#indexing === null && this.#shard.unindexed.size <= this.#indexStepRows)) {
      while (this.#shard.indexPending(this.#indexBatchRows) > 0);
      return;
    }
    if (this.#indexing !== null || this.#closed || this.#shard.unindexed.size === 0) return;
    this.#indexing = setImmediate(() => {
      this.#indexing = null;
      if (this.#closed) return;
      try {
        this.#shard.indexPending(this.#indexStepRows);
      } catch (err) {
        this.#fail(err);
        return;
      }
      this.#index();
    });
  }

  #applied(seq: number): Promise<number> {
    if (this.#shard.lastApplied >= seq) return Promise.resolve(seq);
    if (this.#failure !== null) return Promise.reject(this.#failed());
    return new Promise((resolve, reject) => this.#waiters.set(seq, { resolve, reject }));
  }

  #failed(): VectorgateError {
    return new VectorgateError(SqlState.InternalError, `shard ${this.dir} failed to apply its log and accepts no writes`, { cause: this.#failure });
  }

  search(query: Float32Array, k: number, options: SearchOptions): ShardHit[] {
    return this.#shard.search(query, k, options);
  }

  searchMany(queries: readonly Float32Array[], k: number, options: SearchOptions): (ShardHit[] | Error)[] {
    return this.#shard.searchMany(queries, k, options);
  }

  /** The same search, with how it was answered and how long it took (EXPLAIN ANALYZE). */
  explain(query: Float32Array, k: number, options: SearchOptions): ExplainedSearch {
    const trace: SearchTrace = { strategy: 'hnsw', reason: '', rows: 0, ef: 0, candidates: [], rescored: 0 };
    const started = performance.now();
    const hits = this.#shard.search(query, k, options, trace);
    return { hits, trace, ms: performance.now() - started, lastApplied: this.#shard.lastApplied };
  }

  get(id: string): StoredRow | null {
    return this.#shard.get(id);
  }

  stats(): ReplicaStats {
    const s = this.#shard;
    return { count: s.count, unindexed: s.unindexed.size, payloadBytes: s.payloadBytes, lastApplied: s.lastApplied, logBytes: this.#wal.bytes, snapshotSeq: this.#snapshotSeq, memoryBytes: s.index.memoryBytes() };
  }

  async maybeSnapshot(now = Date.now()): Promise<boolean> {
    if (!this.#policy.due(this.#bytesSinceSnapshot, now)) return false;
    await this.snapshot();
    return true;
  }

  /** Writes a snapshot of the current state (one at a time), then drops log segments it makes redundant. */
  async snapshot(): Promise<void> {
    while (this.#snapshotting !== null) await this.#snapshotting;
    if (this.#shard.lastApplied === this.#snapshotSeq) return;
    this.#snapshotting = this.#writeSnapshot();
    try { await this.#snapshotting; } finally { this.#snapshotting = null; }
  }

  async #writeSnapshot(): Promise<void> {
    const bytesBefore = this.#bytesSinceSnapshot;
    const ref = await writeSnapshot(this.dir, (temp) => captureShard(this.#shard, temp));
    this.#snapshotSeq = ref.seq;
    this.#bytesSinceSnapshot = Math.max(0, this.#bytesSinceSnapshot - bytesBefore);
    const oldestKept = listSnapshots(this.dir).at(-1)!;
    await this.#wal.truncateBefore(oldestKept.seq + 1);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#indexing !== null) clearImmediate(this.#indexing);
    this.#indexing = null;
    while (this.#snapshotting !== null) await this.#snapshotting;
    await this.#wal.close();
  }
}

/** The newest snapshot that verifies and loads; an empty shard when there is none. */
async function newestShard(dir: string, spec: IndexSpec, config: Config): Promise<Shard> {
  const failures: string[] = [];
  for (const ref of listSnapshots(dir)) {
    try {
      await verifySnapshot(ref);
      return restoreShard(spec, config, ref.dir);
    } catch (err) {
      failures.push(`${ref.dir}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (failures.length > 0) {
    process.emitWarning(`shard ${dir}: skipped damaged snapshots: ${failures.join('; ')}`);
  }
  return new Shard(spec, config);
}

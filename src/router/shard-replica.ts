// One shard replica on local disk: its write-ahead log, the state machine, and its snapshots.
// open() = newest intact snapshot + replay of the log after it. write() validates, appends one record
// and resolves once the record is fsync'd and applied (the log's onDurable hook applies it, in order).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { Shard, type SearchOptions, type ShardHit, type StoredRow } from '../engine/shard.ts';
import type { SearchTrace } from '../engine/shard-search.ts';
import { captureShard, restoreShard } from '../engine/shard-snapshot.ts';
import type { IndexSpec } from '../engine/vector-index.ts';
import { decodeBody, encodeBody, HEADER_BYTES, type Op } from '../storage/record-codec.ts';
import { listSnapshots, verifySnapshot, writeSnapshot } from '../storage/snapshot.ts';
import { SnapshotPolicy } from '../storage/snapshot-policy.ts';
import { Wal } from '../storage/wal.ts';

export interface ExplainedSearch { hits: ShardHit[]; trace: SearchTrace; ms: number; lastApplied: number }

export interface ReplicaStats { count: number; lastApplied: number; logBytes: number; snapshotSeq: number; memoryBytes: number }

export class ShardReplica {
  readonly dir: string;
  readonly #shard: Shard;
  readonly #wal: Wal;
  readonly #policy: SnapshotPolicy;
  /** Ops of records in flight, so that applying them does not decode what was just encoded. */
  readonly #inFlight = new WeakMap<Buffer, Op[]>();
  #snapshotSeq: number;
  #bytesSinceSnapshot = 0;
  #snapshotting: Promise<void> | null = null;

  private constructor(dir: string, shard: Shard, wal: Wal, config: Config, snapshotSeq: number) {
    this.dir = dir;
    this.#shard = shard;
    this.#wal = wal;
    this.#policy = new SnapshotPolicy(config);
    this.#snapshotSeq = snapshotSeq;
    wal.onDurable = (seq, body) => {
      const ops = this.#inFlight.get(body) ?? decodeBody(body).ops;
      shard.apply(seq, ops);
    };
  }

  static async open(dir: string, spec: IndexSpec, config: Config): Promise<ShardReplica> {
    mkdirSync(join(dir, 'wal'), { recursive: true });
    const shard = await newestShard(dir, spec, config);
    const snapshotSeq = shard.lastApplied;
    const wal = await Wal.open(join(dir, 'wal'), config);
    if (wal.lastSeq > shard.lastApplied && wal.firstSeq > shard.lastApplied + 1) {
      throw new VectorgateError(SqlState.DataCorrupted,
        `shard ${dir}: the log starts at ${wal.firstSeq} but the newest snapshot covers only ${shard.lastApplied}`, { severity: 'FATAL' });
    }
    let replayed = 0;
    for await (const record of wal.records(shard.lastApplied + 1)) {
      shard.apply(record.seq, decodeBody(record.body).ops);
      replayed += HEADER_BYTES + record.body.length;
    }
    if (wal.lastSeq < shard.lastApplied) await wal.startAfter(shard.lastApplied);
    const replica = new ShardReplica(dir, shard, wal, config, snapshotSeq);
    replica.#bytesSinceSnapshot = replayed;
    return replica;
  }

  get shard(): Shard { return this.#shard; }

  /** Resolves with the record's sequence number once it is durable and applied. */
  async write(ops: Op[]): Promise<number> {
    this.#shard.checkWrite(ops);
    const body = encodeBody(this.#shard.spec.dims, ops);
    this.#inFlight.set(body, ops);
    const seq = await this.#wal.append(body);
    this.#bytesSinceSnapshot += HEADER_BYTES + body.length;
    this.#policy.recordAppend(HEADER_BYTES + body.length, Date.now());
    return seq;
  }

  search(query: Float32Array, k: number, options: SearchOptions): ShardHit[] {
    return this.#shard.search(query, k, options);
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
    return { count: s.count, lastApplied: s.lastApplied, logBytes: this.#wal.bytes, snapshotSeq: this.#snapshotSeq, memoryBytes: s.index.memoryBytes() };
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

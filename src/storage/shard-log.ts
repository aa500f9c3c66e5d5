// The seam between one shard replica and its durable, ordered log. Two implementations, one contract
// (test/storage/shard-log-contract.ts runs against both):
// - the local segmented WAL (wal-shard-log.ts): the embedded default; the replica that appends is the
//   only reader, so every record reaches `apply` before its append resolves;
// - etcd (etcd-log.ts): the cluster; proxies append (one guarded transaction per record), replicas on
//   worker processes tail it with a watch and their own gap checks.
// Sequence numbers start at 1, are contiguous and never reused; a record's body is a record-codec
// body (the log frames it with its own header and CRC32C).

export interface ShardLogRecord { seq: number; body: Buffer }

/** The replica's apply step: every committed record after the tail's start, in order, exactly once. */
export type ApplyRecord = (seq: number, body: Buffer) => void;

export interface ShardLog {
  /** The lowest sequence number the log still holds (lastSeq + 1 when it holds none). */
  readonly firstSeq: number;
  /** The highest sequence number known to be committed (0: none ever). */
  readonly lastSeq: number;
  /** Bytes the log holds (headers included), for stats and snapshot cadence. */
  readonly bytes: number;
  /**
   * When the log last knew it had delivered every committed record (ms epoch; 0: not yet): what
   * bounded staleness measures. A local log is its records' only writer, so always now; the etcd
   * log's tail confirms it each time it reads the shard's `next` (every etcdTailCheckMs).
   */
  readonly caughtUpAtMs: number;
  /** Resolves with the record's sequence number once it is durable (fsync'd, or committed by etcd's quorum). */
  append(body: Buffer): Promise<number>;
  /** The committed records from fromSeq up to lastSeq as of the call, in order. */
  records(fromSeq: number): AsyncIterable<ShardLogRecord>;
  /**
   * Delivers every committed record after afterSeq to apply, in order, without gaps, exactly once —
   * also those appended later, by this process or (etcd) any other. Resolves once tailing has begun.
   * An apply that throws stops the tail: the state no longer follows the log (the log then refuses appends).
   */
  tail(afterSeq: number, apply: ApplyRecord): Promise<void>;
  /** The snapshot covers everything up to seq: the next record appended gets at least seq + 1. */
  startAfter(seq: number): Promise<void>;
  /** Removes records before seq (a snapshot covers them); may keep more (whole segments, etc.). */
  truncateBefore(seq: number): Promise<void>;
  /** Stops the tail and releases files and connections; pending appends settle first. */
  close(): Promise<void>;
}

// A collection's decision log: the commit point of its multi-shard batches (two-phase commit).
// Each participant shard first appends a *prepared* record carrying the batch's transaction id; once
// all are durable, one commit record for that txid here makes the batch happen. A txid without a
// commit record never happened: recovery skips its prepared records. The log is a Wal of its own (so
// concurrent commits share one fsync) holding 9-byte records:
//   [u8 kind][u64 value]   kind 1 = commit of txid `value`; kind 2 = epoch (value unused)
// Transaction ids must never repeat, or a new commit could complete an old crash's prepared records:
// each open appends an epoch record and numbers txids epochSeq × 2^20 + n, n < 2^20 (a new epoch
// record when n runs out). Sequence numbers only grow (segments are named by their first one), so
// every epoch's txids are above the ones before.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { HEADER_BYTES } from './record-codec.ts';
import { Wal } from './wal.ts';

const KIND_COMMIT = 1;
const KIND_EPOCH = 2;
const RECORD_BYTES = 9;
const TXIDS_PER_EPOCH = 2 ** 20;

export class DecisionLog {
  readonly #wal: Wal;
  readonly #segmentBytes: number;
  /** Committed txid → sequence number of its commit record, for what the log still holds. */
  readonly #committed: Map<number, number>;
  #epoch = 0;
  #nextInEpoch = TXIDS_PER_EPOCH;
  #newEpoch: Promise<void> | null = null;
  #bytesSinceTrim = 0;

  private constructor(wal: Wal, committed: Map<number, number>, segmentBytes: number) {
    this.#wal = wal;
    this.#segmentBytes = segmentBytes;
    this.#committed = committed;
  }

  /** Opens (or creates) `<collectionDir>/decisions` and reads every commit it holds. */
  static async open(collectionDir: string, config: Config): Promise<DecisionLog> {
    const dir = join(collectionDir, 'decisions');
    mkdirSync(dir, { recursive: true });
    const wal = await Wal.open(dir, { ...config, walSegmentBytes: config.decisionLogSegmentBytes });
    const committed = new Map<number, number>();
    for await (const record of wal.records(1)) {
      if (record.body.readUInt8(0) === KIND_COMMIT) committed.set(Number(record.body.readBigUInt64LE(1)), record.seq);
    }
    return new DecisionLog(wal, committed, config.decisionLogSegmentBytes);
  }

  /** The txids with a commit record: what recovery hands the shards. */
  committedTxids(): number[] {
    return [...this.#committed.keys()];
  }

  /** A transaction id never used before, in this run or any earlier one. */
  async nextTxid(): Promise<number> {
    while (this.#nextInEpoch >= TXIDS_PER_EPOCH) {
      this.#newEpoch ??= this.#startEpoch().finally(() => { this.#newEpoch = null; });
      await this.#newEpoch;
    }
    return this.#epoch * TXIDS_PER_EPOCH + this.#nextInEpoch++;
  }

  /** Resolves once the commit of txid is durable: from then on the batch has happened. */
  async commit(txid: number): Promise<void> {
    const seq = await this.#wal.append(record(KIND_COMMIT, txid));
    this.#committed.set(txid, seq);
    this.#bytesSinceTrim += HEADER_BYTES + RECORD_BYTES;
  }

  /** A segment's worth has been appended since the last trim, so a trim may free one. */
  get trimDue(): boolean {
    return this.#bytesSinceTrim >= this.#segmentBytes;
  }

  /** The last durable record: a trim may only remove commits up to what was durable before it asked the shards. */
  get lastSeq(): number { return this.#wal.lastSeq; }

  /**
   * Forgets commits of txids below `oldestNeededTxid` (no shard log still holds a prepared record of
   * them; null: none holds any) among records before `beforeSeq`, and removes the segments holding
   * only those. `beforeSeq` is lastSeq + 1 from before the shards were asked: a commit made since may
   * be for a prepare that became durable after a shard answered.
   */
  async trim(oldestNeededTxid: number | null, beforeSeq: number): Promise<void> {
    this.#bytesSinceTrim = 0;
    let cutoffSeq = beforeSeq;
    for (const [txid, seq] of this.#committed) {
      if (oldestNeededTxid !== null && txid >= oldestNeededTxid && seq < cutoffSeq) cutoffSeq = seq;
    }
    for (const [txid, seq] of this.#committed) if (seq < cutoffSeq) this.#committed.delete(txid);
    await this.#wal.truncateBefore(cutoffSeq);
  }

  async close(): Promise<void> {
    await this.#wal.close();
  }

  async #startEpoch(): Promise<void> {
    this.#epoch = await this.#wal.append(record(KIND_EPOCH, 0));
    this.#nextInEpoch = 0;
  }
}

function record(kind: number, value: number): Buffer {
  const body = Buffer.alloc(RECORD_BYTES);
  body.writeUInt8(kind, 0);
  body.writeBigUInt64LE(BigInt(value), 1);
  return body;
}

// The cluster's write path: the proxy itself appends each shard's part of a write to that shard's log
// in etcd, all shards in one guarded transaction (EtcdLogWriter.appendAtomic: one Raft proposal, all
// parts or none), and acknowledges once etcd's quorum has committed it. Workers take no part in a
// write — their replicas tail the logs — so writes go on while workers are down. A part larger than
// etcdRecordMaxBytes becomes several consecutive records of its shard in the same transaction.
import type { Config } from '../config.ts';
import type { CollectionEntry } from '../storage/catalog-store.ts';
import { withDeadline, type EtcdConnection } from '../storage/etcd-client.ts';
import { counterValue, logKeys } from '../storage/etcd-log-read.ts';
import type { EtcdLogWriter } from '../storage/etcd-log.ts';
import { encodeBodies } from '../storage/record-split.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { opsOf, shardKey, type WritePart, type WritePath } from '../router/write-path.ts';
import { range } from '../router/collection-store.ts';

/** The share of a transaction's bytes a write's rows may fill (the rest: keys, record and op headers). */
const TXN_PAYLOAD_SHARE = 0.85;

/** The highest seq any serving replica of the shard reports applied; null when none serves (no backlog to bound). */
export type AppliedOf = (shard: string) => number | null;

export class EtcdWritePath implements WritePath {
  readonly #conn: EtcdConnection;
  readonly #writer: EtcdLogWriter;
  readonly #config: Config;
  readonly #appliedOf: AppliedOf;
  /** One write is one etcd transaction: at most etcdTxnMaxBytes, less room for keys and record headers. */
  readonly maxWriteBytes: number;

  constructor(conn: EtcdConnection, writer: EtcdLogWriter, config: Config, appliedOf: AppliedOf = () => null) {
    this.#conn = conn;
    this.#writer = writer;
    this.#config = config;
    this.#appliedOf = appliedOf;
    this.maxWriteBytes = Math.floor(config.etcdTxnMaxBytes * TXN_PAYLOAD_SHARE);
  }

  /** Nothing to open: the logs are etcd keys, created by the first append. */
  async openCollection(): Promise<number[]> { return []; }

  async write(entry: CollectionEntry, parts: Map<number, WritePart>): Promise<Record<number, number>> {
    const shards = [...parts.keys()];
    for (const shard of shards) this.#checkBacklog(entry, shardKey(entry, shard));
    const seqs = await this.#writer.appendAtomic(shards.map((shard) => ({
      log: shardKey(entry, shard),
      bodies: encodeBodies(entry.dims, opsOf(parts.get(shard)!), this.#config.etcdRecordMaxBytes),
    })));
    return Object.fromEntries(shards.map((shard, i) => [shard, seqs[i]!]));
  }

  /** Every shard's `next − 1`, read in one linearizable transaction (Raft's ReadIndex inside etcd). */
  async committedPositions(entry: CollectionEntry): Promise<ReadonlyMap<number, number>> {
    const keys = range(entry.shards).map((i) => logKeys(this.#config.etcdPrefix, shardKey(entry, i)));
    const res = await withDeadline(this.#conn, this.#config.etcdCallTimeoutMs, `read the committed positions of ${entry.name}`, (options) =>
      this.#conn.client.kv.txn({ success: keys.map((k) => ({ request_range: { key: k.next } })) }, options));
    return new Map(res.responses.map((r, i) => [i, counterValue(r.response_range.kvs[0]?.value, keys[i]!.next) - 1]));
  }

  /**
   * Backpressure: when even the most caught-up replica of a shard is more than
   * clusterMaxUnappliedRecords behind its log, writes to it are refused (53400) until replicas catch
   * up, so an unread tail cannot grow without bound in etcd's memory (each member keeps recent
   * entries in RAM). With no replica serving, etcd's database-size limit is the bound.
   */
  #checkBacklog(entry: CollectionEntry, shard: string): void {
    const committed = this.#writer.lastSeqOf(shard);
    const applied = this.#appliedOf(shard);
    if (committed === undefined || applied === null) return;
    const behind = committed - applied;
    if (behind <= this.#config.clusterMaxUnappliedRecords) return;
    throw new VectorgateError(SqlState.ConfigurationLimitExceeded,
      `the replicas of shard ${shard.slice(shard.lastIndexOf('/') + 1)} of "${entry.name}" are ${behind} log records behind (clusterMaxUnappliedRecords = ${this.#config.clusterMaxUnappliedRecords})`,
      { hint: 'Write more slowly or add workers; writes are accepted again once the replicas catch up.' });
  }

  async closeCollection(entry: CollectionEntry): Promise<void> {
    for (const i of range(entry.shards)) this.#writer.forget(shardKey(entry, i));
  }

  async close(): Promise<void> {}
}

// A worker's view of a shard's etcd log: it only follows. In a cluster the proxies append (one guarded
// transaction per write, src/router/write-path.ts) and the placement controller truncates, once every
// replica placed on the shard has a snapshot past the records (src/cluster/controller.ts). So a
// replica's own snapshot must not truncate the shared log (other replicas may still need the
// records), it must not move the log's counters, and it cannot append.
import { SqlState, VectorgateError } from '../errors.ts';
import type { EtcdShardLog } from '../storage/etcd-log.ts';
import type { ApplyRecord, ShardLog, ShardLogRecord } from '../storage/shard-log.ts';

export class FollowerLog implements ShardLog {
  readonly #log: EtcdShardLog;

  constructor(log: EtcdShardLog) { this.#log = log; }

  get firstSeq(): number { return this.#log.firstSeq; }
  get lastSeq(): number { return this.#log.lastSeq; }
  get bytes(): number { return this.#log.bytes; }
  get caughtUpAtMs(): number { return this.#log.caughtUpAtMs; }

  append(): Promise<number> {
    return Promise.reject(new VectorgateError(SqlState.FeatureNotSupported, `a worker does not append to log ${this.#log.log}: in a cluster the proxies write to etcd`));
  }

  records(fromSeq: number): AsyncIterable<ShardLogRecord> { return this.#log.records(fromSeq); }
  tail(afterSeq: number, apply: ApplyRecord): Promise<void> { return this.#log.tail(afterSeq, apply); }
  /** The log's counters belong to the proxies that append. */
  async startAfter(): Promise<void> {}
  /** Truncation is the controller's, for all replicas at once. */
  async truncateBefore(): Promise<void> {}
  close(): Promise<void> { return this.#log.close(); }
}

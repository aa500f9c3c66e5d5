// The embedded default's writes: acknowledged only when every shard's log append is fsync'd (and
// applied). One call's writes are all-or-nothing: a batch for one shard is one log record; a batch
// over several shards commits with two-phase commit through the collection's decision log
// (storage/decision-log.ts): prepare on each shard, the commit record, then decide on each.
import type { Transferable } from 'node:worker_threads';
import type { Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import type { CollectionEntry } from '../storage/catalog-store.ts';
import { DecisionLog } from '../storage/decision-log.ts';
import type { ShardTransport } from './shard-transport.ts';
import { shardKey, type WritePart, type WritePath } from './write-path.ts';

export class LocalWritePath implements WritePath {
  readonly maxWriteBytes = null;
  readonly #config: Config;
  readonly #transport: ShardTransport;
  /** Each open collection's decision log, by its directory name. */
  readonly #decisions = new Map<string, DecisionLog>();
  /** Decision-log trims running, by collection directory (closing waits for them). */
  readonly #trimming = new Map<string, Promise<void>>();

  constructor(config: Config, transport: ShardTransport) {
    this.#config = config;
    this.#transport = transport;
  }

  async openCollection(entry: CollectionEntry, collectionDir: string): Promise<number[]> {
    const log = await DecisionLog.open(collectionDir, this.#config);
    this.#decisions.set(entry.dir, log);
    return log.committedTxids();
  }

  /** The txids committed in the decision log of the collection of shard (a key): what its reopening needs. */
  committedOf(shard: string): number[] {
    return this.#decisions.get(shard.slice(0, shard.lastIndexOf('/')))?.committedTxids() ?? [];
  }

  /** One call's writes: one shard's part is one record (its own commit point); several commit together. */
  async write(entry: CollectionEntry, parts: Map<number, WritePart>): Promise<Record<number, number>> {
    const positions: Record<number, number> = {};
    const transfer = (part: WritePart): Transferable[] => (part.upsert === undefined ? [] : [part.upsert.vectors.buffer as ArrayBuffer]);
    if (parts.size <= 1) {
      for (const [shard, part] of parts) positions[shard] = await this.#transport.call({ type: 'write', shard: shardKey(entry, shard), ...part }, transfer(part));
      return positions;
    }
    const log = this.#decisionLog(entry);
    const txid = await log.nextTxid();
    const shards = [...parts.keys()];
    const prepared = await Promise.allSettled([...parts].map(([shard, part]) =>
      this.#transport.call({ type: 'prepare', shard: shardKey(entry, shard), txid, ...part }, transfer(part))));
    const refused = prepared.find((r) => r.status === 'rejected');
    try {
      if (refused !== undefined) throw refused.reason;
      await log.commit(txid);
    } catch (err) {
      // No commit record: the batch did not happen. The shards drop their prepared parts now, and
      // recovery would skip them. (A commit whose fsync failed may still be on disk: in doubt, like a
      // COMMIT whose connection broke; all shards then apply it after a restart.)
      await Promise.allSettled(shards.map((shard) => this.#transport.call({ type: 'decide', shard: shardKey(entry, shard), txid, commit: false })));
      throw err;
    }
    await Promise.all(shards.map(async (shard) => {
      positions[shard] = (await this.#transport.call({ type: 'decide', shard: shardKey(entry, shard), txid, commit: true }))!;
    }));
    if (log.trimDue && !this.#trimming.has(entry.dir)) {
      this.#trimming.set(entry.dir, this.#trimDecisions(entry, log).finally(() => this.#trimming.delete(entry.dir)));
    }
    return positions;
  }

  /** Waits for a running trim (it asks the shards), then closes the decision log. */
  /**
   * Embedded, a shard's one replica is its log's only writer and applies each record before the
   * append is acknowledged, so it has applied everything committed: no shard needs a wait.
   */
  async committedPositions(_entry: CollectionEntry): Promise<ReadonlyMap<number, number>> {
    return new Map();
  }

  async closeCollection(entry: CollectionEntry): Promise<void> {
    await this.#trimming.get(entry.dir);
    const log = this.#decisions.get(entry.dir);
    this.#decisions.delete(entry.dir);
    await log?.close();
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#trimming.values()]);
    await Promise.allSettled([...this.#decisions.values()].map((log) => log.close()));
    this.#decisions.clear();
  }

  /**
   * Drops commits no shard can need any more: older than the oldest prepared record any shard's log
   * still holds (shard logs shrink as snapshots are taken).
   */
  async #trimDecisions(entry: CollectionEntry, log: DecisionLog): Promise<void> {
    try {
      const beforeSeq = log.lastSeq + 1;
      const oldest = await Promise.all(Array.from({ length: entry.shards }, (_, i) => this.#transport.call({ type: 'retained', shard: shardKey(entry, i) })));
      const needed = oldest.filter((t): t is number => t !== null);
      await log.trim(needed.length === 0 ? null : Math.min(...needed), beforeSeq);
    } catch (err) {
      process.emitWarning(`trimming the decision log of ${entry.name} failed: ${String(err)}`);
    }
  }

  #decisionLog(entry: CollectionEntry): DecisionLog {
    const log = this.#decisions.get(entry.dir);
    if (log === undefined) throw new VectorgateError(SqlState.InternalError, `collection "${entry.name}" has no open decision log`);
    return log;
  }
}

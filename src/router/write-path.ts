// The seam for writes: how one call's writes to a collection's shards become durable, all or nothing.
// - embedded (local-write-path.ts): a single shard's part is one record in its WAL; several commit by
//   two-phase commit through the collection's decision log;
// - cluster (etcd-write-path.ts): the proxy appends every shard's records in one guarded etcd
//   transaction; workers are not involved in writes, their replicas tail the log.
import type { CollectionEntry } from '../storage/catalog-store.ts';
import type { Op } from '../storage/record-codec.ts';
import type { UpsertRows } from './worker-protocol.ts';

/** One shard's part of a write. */
export interface WritePart { upsert?: UpsertRows; delete?: string[] }

export interface WritePath {
  /**
   * The most bytes one all-or-nothing write may hold (rows' ids, vectors and payloads), or null for no
   * limit of the path's own (embedded: maxBatchRows bounds a batch). COPY writes batches under it.
   */
  readonly maxWriteBytes: number | null;
  /** Before a collection's shards open; returns what their recovery needs (embedded: the committed txids of its decision log; cluster: []). */
  openCollection(entry: CollectionEntry, collectionDir: string): Promise<number[]>;
  /** One call's writes, all or nothing; resolves with shard → seq once every part is durable (embedded: also applied). */
  write(entry: CollectionEntry, parts: Map<number, WritePart>): Promise<Record<number, number>>;
  /**
   * Every shard's committed log position as of now (shard → seq), read so that a linearizable read can
   * wait for a replica that has applied it; a shard absent from the map needs no wait.
   */
  committedPositions(entry: CollectionEntry): Promise<ReadonlyMap<number, number>>;
  closeCollection(entry: CollectionEntry): Promise<void>;
  close(): Promise<void>;
}

/** The transport's key of a collection's shard. */
export function shardKey(entry: CollectionEntry, shard: number): string {
  return `${entry.dir}/${shard}`;
}

/** A part's rows as log ops, upserts first, in their order (a record applies them in this order). */
export function opsOf(part: WritePart): Op[] {
  const ops: Op[] = [];
  if (part.upsert !== undefined) {
    const { ids, vectors, payloads } = part.upsert;
    const dims = ids.length === 0 ? 0 : vectors.length / ids.length;
    ids.forEach((id, i) => ops.push({ op: 'upsert', id, vector: vectors.subarray(i * dims, (i + 1) * dims), payload: payloads[i] ?? null }));
  }
  for (const id of part.delete ?? []) ops.push({ op: 'delete', id });
  return ops;
}

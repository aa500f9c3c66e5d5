// Routing rules shared by every write and read: which shard an id lives on (FNV-1a of its UTF-8
// bytes, mod the shard count: stable across processes, versions and platforms), and the merge of
// per-shard top-k lists into one.
import type { ShardHit } from '../engine/shard.ts';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const encoder = new TextEncoder();

export function fnv1a(text: string): number {
  let hash = FNV_OFFSET;
  for (const byte of encoder.encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
  }
  return hash;
}

export function shardOf(id: string, shards: number): number {
  return fnv1a(id) % shards;
}

/** The k nearest of several nearest-first lists; equal distances are ordered by id, so the answer is deterministic. */
export function mergeTopK(lists: readonly ShardHit[][], k: number): ShardHit[] {
  const all = lists.flat();
  all.sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return all.slice(0, k);
}

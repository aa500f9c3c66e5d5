// Routing rules shared by every write and read: which shard an id lives on (FNV-1a of its UTF-8
// bytes, mod the shard count: stable across processes, versions and platforms), and the merge of
// per-shard top-k lists into one.
import type { ShardHit } from '../engine/shard.ts';
import { compareHits } from '../engine/shard-search.ts';

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

/**
 * The k nearest of several nearest-first lists, by repeatedly taking the nearest head (O(k × lists),
 * no concatenation or sort); equal distances are ordered by id, so the answer is deterministic.
 */
export function mergeTopK(lists: readonly ShardHit[][], k: number): ShardHit[] {
  const heads = new Array<number>(lists.length).fill(0);
  const out: ShardHit[] = [];
  while (out.length < k) {
    let best = -1;
    for (let i = 0; i < lists.length; i++) {
      const hit = lists[i]![heads[i]!];
      if (hit !== undefined && (best === -1 || compareHits(hit, lists[best]![heads[best]!]!) < 0)) best = i;
    }
    if (best === -1) break;
    out.push(lists[best]![heads[best]!++]!);
  }
  return out;
}

// What makes two searches the same: the key material of the search cache, of coalescing and of warmup.
// Identity is everything that decides a search's answer except how fresh the collection is: the
// collection (its directory, unique per creation, so a dropped and re-created name never matches),
// the query vector's bytes, k, the filter, ef, rescoring, and the rerank plan. The material adds the
// collection's write generation, so a write makes every earlier material unreachable.
import type { SearchOptions } from '../engine/shard-search.ts';
import type { RerankPlan } from './rerank/rerank-step.ts';

export interface SearchIdentity {
  /** The collection's directory (CollectionEntry.dir). */
  collection: string;
  vector: Float32Array;
  k: number;
  options: SearchOptions;
  rerank: RerankPlan | null;
}

/** Length-prefixed fields, so no two different identities encode alike. */
export function identityBytes(id: SearchIdentity): Buffer {
  const { ef, filter, oversample, rescore } = id.options;
  const text = JSON.stringify([id.collection, id.k, ef ?? null, filter ?? null, oversample ?? null, rescore ?? null, id.rerank === null ? null : planFields(id.rerank)]);
  const head = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(4 + head.length + id.vector.byteLength);
  out.writeUInt32LE(head.length, 0);
  head.copy(out, 4);
  Buffer.from(id.vector.buffer, id.vector.byteOffset, id.vector.byteLength).copy(out, 4 + head.length);
  return out;
}

/** The identity at one write generation of its collection. */
export function materialOf(identity: Buffer, generation: number): Buffer {
  const out = Buffer.allocUnsafe(8 + identity.length);
  out.writeDoubleLE(generation, 0);
  identity.copy(out, 8);
  return out;
}

/** The plan's fields that change the answer (the timeout only decides whether it falls back, and fallbacks are not cached). */
function planFields(plan: RerankPlan): unknown[] {
  return [plan.kind, plan.url, plan.topN, plan.field, plan.queryText];
}

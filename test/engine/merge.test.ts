// The router's merge of per-shard top-k lists: the same answer as sorting everything, ties by id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeTopK } from '../../src/router/router.ts';
import { compareHits } from '../../src/engine/shard-search.ts';
import type { ShardHit } from '../../src/engine/shard.ts';
import { randomInt, seeded } from '../helpers/random.ts';

test('mergeTopK equals sort-then-cut over seeded lists, with ties ordered by id', () => {
  const random = seeded(20261129);
  for (let trial = 0; trial < 500; trial++) {
    const lists: ShardHit[][] = Array.from({ length: 1 + randomInt(random, 5) }, (_, shard) => {
      const hits = Array.from({ length: randomInt(random, 12) }, (_, i) => ({
        id: `${shard}-${i}`,
        distance: randomInt(random, 8) / 4, // few distinct values: many ties
        payload: null,
      }));
      return hits.sort(compareHits);
    });
    const k = 1 + randomInt(random, 20);
    const expected = lists.flat().sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : 1)).slice(0, k);
    assert.deepEqual(mergeTopK(lists, k), expected);
  }
});

// Where the controller may truncate a shard's log: before the lowest snapshot of every replica placed
// on it, whatever its state; never while a placed replica has no report or no snapshot yet.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { truncationPoints } from '../../src/cluster/log-truncation.ts';

test('the lowest snapshot of all placed replicas bounds truncation; a joining or leaving replica counts too', () => {
  const points = truncationPoints({
    'd/0': [{ worker: 'a', state: 'serving' }, { worker: 'b', state: 'serving' }],
    'd/1': [{ worker: 'a', state: 'serving' }, { worker: 'c', state: 'joining' }],
    'd/2': [{ worker: 'b', state: 'leaving' }, { worker: 'c', state: 'serving' }],
  }, {
    'd/0': { a: { snapshotSeq: 40 }, b: { snapshotSeq: 25 } },
    'd/1': { a: { snapshotSeq: 9 }, c: { snapshotSeq: 12 } },
    'd/2': { b: { snapshotSeq: 3 }, c: { snapshotSeq: 90 } },
  });
  assert.deepEqual([...points], [['d/0', 26], ['d/1', 10], ['d/2', 4]]);
});

test('a placed replica without a report or without a snapshot holds the shard back; reports of unplaced workers do not count', () => {
  const points = truncationPoints({
    'd/0': [{ worker: 'a', state: 'serving' }, { worker: 'b', state: 'joining' }],
    'd/1': [{ worker: 'a', state: 'serving' }, { worker: 'b', state: 'serving' }],
    'd/2': [{ worker: 'a', state: 'serving' }],
    'd/3': [],
  }, {
    'd/0': { a: { snapshotSeq: 40 } },
    'd/1': { a: { snapshotSeq: 40 }, b: { snapshotSeq: 0 } },
    'd/2': { a: { snapshotSeq: 7 }, gone: { snapshotSeq: 1 } },
    'd/3': { a: { snapshotSeq: 7 } },
  });
  assert.deepEqual([...points], [['d/2', 8]]);
});

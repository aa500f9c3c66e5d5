import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { SqlState, VectorgateError } from '../../src/errors.ts';
import { decodeBody, type Op } from '../../src/storage/record-codec.ts';
import { encodeBodies } from '../../src/storage/record-split.ts';
import { randomInt, seeded } from '../helpers/random.ts';

describe('splitting a part into records under a size limit', () => {
  test('every body is within the limit and together they hold every op in order', () => {
    const random = seeded(4);
    const ops: Op[] = Array.from({ length: 300 }, (_, i) => (randomInt(random, 5) === 0
      ? { op: 'delete', id: `d${i}` }
      : { op: 'upsert', id: `u${i}`, vector: Float32Array.from({ length: 8 }, () => random()), payload: randomInt(random, 2) ? null : `{"n":"${'p'.repeat(randomInt(random, 300))}"}` }));
    for (const txid of [null, 77]) {
      const bodies = encodeBodies(8, ops, 2048, txid);
      assert.ok(bodies.length > 5, `${bodies.length} bodies`);
      for (const b of bodies) assert.ok(b.length <= 2048, `${b.length} bytes`);
      const decoded = bodies.map((b) => decodeBody(b));
      assert.deepEqual(decoded.flatMap((d) => d.ops), ops);
      for (const d of decoded) assert.equal(d.txid, txid ?? undefined);
    }
  });

  test('a part under the limit stays one body; an empty part is one empty body', () => {
    const ops: Op[] = [{ op: 'upsert', id: 'a', vector: Float32Array.of(1, 2), payload: null }];
    assert.equal(encodeBodies(2, ops, 1024).length, 1);
    assert.deepEqual(decodeBody(encodeBodies(2, [], 1024)[0]!).ops, []);
  });

  test('one op over the limit is refused with 54000 naming the row', () => {
    const ops: Op[] = [{ op: 'upsert', id: 'huge', vector: new Float32Array(1000), payload: null }];
    assert.throws(() => encodeBodies(1000, ops, 2048), (err: unknown) => err instanceof VectorgateError && err.code === SqlState.ProgramLimitExceeded && /"huge" takes 4020 bytes/.test(err.message));
  });
});

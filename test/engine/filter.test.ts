import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { DEFAULTS } from '../../src/config.ts';
import { compileFilter, type Payload } from '../../src/engine/filter.ts';
import { PayloadIndex } from '../../src/engine/payload-index.ts';
import { VectorgateError } from '../../src/errors.ts';

const matches = (filter: unknown, payload: Payload) => compileFilter(filter, DEFAULTS).test(payload);

describe('filter language', () => {
  const doc = { lang: 'en', n: 5, tags: ['a', 'b'], meta: { year: 2020 }, draft: false, none: null };

  test('equality, arrays, nested paths, null', () => {
    assert.ok(matches({ lang: 'en' }, doc));
    assert.ok(!matches({ lang: 'de' }, doc));
    assert.ok(matches({ tags: 'b' }, doc));
    assert.ok(matches({ 'meta.year': 2020 }, doc));
    assert.ok(matches({ none: null }, doc));
    assert.ok(!matches({ missing: null }, doc));
    assert.ok(matches({ lang: 'en', n: 5 }, doc));
    assert.ok(!matches({ lang: 'en', n: 6 }, doc));
    assert.ok(matches({ draft: false }, doc));
  });

  test('operators', () => {
    assert.ok(matches({ n: { $gt: 4, $lte: 5 } }, doc));
    assert.ok(!matches({ n: { $gt: 5 } }, doc));
    assert.ok(matches({ n: { $gte: 5, $lt: 6 } }, doc));
    assert.ok(!matches({ n: { $lt: '9' } }, doc), 'no comparison across types');
    assert.ok(matches({ lang: { $in: ['de', 'en'] } }, doc));
    assert.ok(matches({ tags: { $in: ['z', 'a'] } }, doc));
    assert.ok(matches({ lang: { $ne: 'de' } }, doc));
    assert.ok(matches({ missing: { $ne: 'x' } }, doc));
    assert.ok(matches({ missing: { $exists: false }, lang: { $exists: true } }, doc));
    assert.ok(matches({ $or: [{ lang: 'de' }, { n: 5 }] }, doc));
    assert.ok(!matches({ $and: [{ lang: 'en' }, { n: 4 }] }, doc));
    assert.ok(matches({ $not: { lang: 'de' } }, doc));
    assert.ok(matches('{"lang":"en"}', doc));
  });

  test('invalid filters are 22023', () => {
    const bad = [
      '{', '[]', 'null', {}, { $foo: 1 }, { a: { $foo: 1 } }, { a: [1, 2] }, { a: {} }, { $and: [] }, { $or: {} },
      { a: { $in: 'x' } }, { a: { $gt: true } }, { a: { $exists: 1 } }, { 'a..b': 1 }, { a: { $in: [{}] } },
      { a: Infinity }, { $not: 5 },
    ];
    for (const f of bad) {
      assert.throws(() => compileFilter(f, DEFAULTS), (e) => e instanceof VectorgateError && e.code === '22023', JSON.stringify(f));
    }
    let deep: unknown = { a: 1 };
    for (let i = 0; i < DEFAULTS.maxFilterDepth + 2; i++) deep = { $not: deep };
    assert.throws(() => compileFilter(deep, DEFAULTS), VectorgateError);
    assert.throws(() => compileFilter({ a: { $in: new Array(DEFAULTS.maxFilterInValues + 1).fill(1) } }, DEFAULTS), VectorgateError);
  });
});

describe('payload index', () => {
  const index = new PayloadIndex(2);
  index.add(1, { cat: 'x', n: 1 });
  index.add(2, { cat: 'y', n: 2, late: 1 });
  index.add(3, { cat: ['x', 'z'], n: 1 });
  const slots = (filter: unknown) => {
    const c = index.candidates(compileFilter(filter, DEFAULTS).node);
    return c === null ? null : [...new Set(c.sets.flatMap((s) => [...s]))].sort();
  };

  test('narrows equality, $in, $and, $or; refuses what it cannot narrow', () => {
    assert.deepEqual(slots({ cat: 'x' }), [1, 3]);
    assert.deepEqual(slots({ cat: { $in: ['y', 'z'] } }), [2, 3]);
    assert.deepEqual(slots({ cat: 'x', n: 1, other: 5 }), [1, 3]);
    assert.deepEqual(slots({ $or: [{ cat: 'y' }, { n: 1 }] }), [1, 2, 3]);
    assert.deepEqual(slots({ cat: 'nope' }), []);
    assert.equal(slots({ late: 1 }), null, 'keys past maxKeys are not indexed');
    assert.equal(slots({ $or: [{ cat: 'y' }, { late: 1 }] }), null);
    assert.equal(slots({ n: { $gt: 0 } }), null);
  });

  test('remove drops postings', () => {
    index.remove(3, { cat: ['x', 'z'], n: 1 });
    assert.deepEqual(slots({ cat: 'x' }), [1]);
    assert.deepEqual(slots({ cat: 'z' }), []);
  });
});

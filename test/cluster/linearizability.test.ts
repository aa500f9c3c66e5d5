// The linearizability checker the cluster tests use (test/helpers/linearizability.ts): known-good and
// known-bad histories for both models, unknown outcomes, the step limit, and seeded random histories
// recorded from a real sequential execution (linearizable by construction) with anomalies injected.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import {
  checkLinearizable,
  checkSessionReads,
  kvRegister,
  vectorSet,
  type KvInput,
  type Operation,
  type VectorInput,
} from '../helpers/linearizability.ts';
import { randomInt, seeded, type Random } from '../helpers/random.ts';

type KvOp = Operation<KvInput, string | null>;

function write(client: string, key: string, value: string, invokeMs: number, completeMs: number | null): KvOp {
  return { client, input: { kind: 'write', key, value }, invokeMs, completeMs };
}

function read(client: string, key: string, output: string | null, invokeMs: number, completeMs: number | null): KvOp {
  return { client, input: { kind: 'read', key }, output, invokeMs, completeMs };
}

function verdict(history: KvOp[]) {
  return checkLinearizable(history, kvRegister).verdict;
}

describe('register histories', () => {
  test('sequential writes and reads, and a read of a key never written, are linearizable', () => {
    const history = [read('a', 'x', null, 0, 1), write('a', 'x', '1', 2, 3), read('b', 'x', '1', 4, 5), write('b', 'x', '2', 6, 7), read('a', 'x', '2', 8, 9)];
    const result = checkLinearizable(history, kvRegister);
    assert.equal(result.ok, true);
    assert.equal(result.verdict, 'linearizable');
    assert.equal(result.anomaly, undefined);
  });

  test('a read concurrent with a write may see either value', () => {
    assert.equal(verdict([write('a', 'x', '1', 0, 10), read('b', 'x', '1', 2, 3)]), 'linearizable');
    assert.equal(verdict([write('a', 'x', '1', 0, 10), read('b', 'x', null, 2, 3)]), 'linearizable');
    assert.equal(verdict([write('a', 'x', '1', 0, 10), write('b', 'x', '2', 1, 9), read('c', 'x', '1', 11, 12)]), 'linearizable');
    assert.equal(verdict([write('a', 'x', '1', 0, 10), write('b', 'x', '2', 1, 9), read('c', 'x', '2', 11, 12)]), 'linearizable');
  });

  test('operations whose times touch count as concurrent', () => {
    assert.equal(verdict([write('a', 'x', '1', 0, 5), read('b', 'x', null, 5, 6)]), 'linearizable');
  });

  test('a stale read after a completed write is an anomaly, reported with the writes that make it stale', () => {
    const w1 = write('a', 'x', '1', 0, 1);
    const w2 = write('a', 'x', '2', 2, 3);
    const stale = read('b', 'x', '1', 4, 5);
    const result = checkLinearizable([w1, w2, read('c', 'x', '2', 2, 6), stale], kvRegister);
    assert.equal(result.ok, false);
    assert.equal(result.verdict, 'not-linearizable');
    assert.equal(result.anomaly!.key, 'x');
    assert.deepEqual(result.anomaly!.operations, [w1, w2, stale]);
    assert.equal(result.anomaly!.minimal, true);
    assert.match(result.anomaly!.description, /register history of key "x" is not linearizable/);
    assert.match(result.anomaly!.description, /b read\(x\) → "1" \[4, 5\]/);
  });

  test('a read of null after a completed write is an anomaly', () => {
    const result = checkLinearizable([write('a', 'x', '1', 0, 1), read('b', 'x', null, 2, 3)], kvRegister);
    assert.equal(result.verdict, 'not-linearizable');
    assert.equal(result.anomaly!.operations.length, 2);
  });

  test('a read of a value never written is an anomaly on its own', () => {
    const bogus = read('b', 'x', '9', 4, 5);
    const result = checkLinearizable([write('a', 'x', '1', 0, 1), read('a', 'x', '1', 2, 3), bogus], kvRegister);
    assert.equal(result.verdict, 'not-linearizable');
    assert.deepEqual(result.anomaly!.operations, [bogus]);
  });

  test('two reads that see values in a non-linearizable order are an anomaly', () => {
    const history = [write('a', 'x', '1', 0, 1), write('a', 'x', '2', 2, 10), read('b', 'x', '2', 3, 4), read('c', 'x', '1', 5, 6)];
    const result = checkLinearizable(history, kvRegister);
    assert.equal(result.verdict, 'not-linearizable');
    assert.equal(result.anomaly!.operations.length, 4);
    assert.equal(verdict([history[0]!, history[1]!, read('b', 'x', '1', 3, 4), read('c', 'x', '2', 5, 6)]), 'linearizable');
  });

  test('a write of unknown outcome may appear later, or never, but not disappear once seen', () => {
    const lost = write('a', 'x', '1', 0, null);
    assert.equal(verdict([lost, read('b', 'x', '1', 100, 101)]), 'linearizable', 'it happened');
    assert.equal(verdict([lost, read('b', 'x', null, 100, 101)]), 'linearizable', 'it never happened');
    assert.equal(verdict([lost, read('b', 'x', null, 5, 6), read('b', 'x', '1', 200, 201)]), 'linearizable', 'it happened late');
    assert.equal(verdict([lost, read('b', 'x', '1', 5, 6), read('c', 'x', null, 200, 201)]), 'not-linearizable', 'seen, then gone');
    assert.equal(verdict([write('a', 'x', '0', 0, 1), lost, read('b', 'x', '0', 5, 6), read('c', 'x', '1', 8, 9), read('c', 'x', '0', 10, 11)]), 'not-linearizable');
  });

  test('a read of unknown outcome constrains nothing', () => {
    assert.equal(verdict([write('a', 'x', '1', 0, 1), read('b', 'x', '7', 2, null)]), 'linearizable');
  });

  test('keys are checked apart, and the anomaly names the failing key', () => {
    const history = [write('a', 'x', '1', 0, 10), read('b', 'x', '1', 1, 2), write('a', 'y', '1', 0, 1), read('b', 'y', null, 2, 3)];
    const result = checkLinearizable(history, kvRegister);
    assert.equal(result.verdict, 'not-linearizable');
    assert.equal(result.anomaly!.key, 'y');
  });

  test('past the step limit the verdict is unknown, not a hang and not a guess', () => {
    const history = Array.from({ length: 40 }, (_, i) => write(`c${i}`, 'x', `v${i}`, 0, 100 + i));
    history.push(read('r', 'x', 'never', 300, 301));
    const result = checkLinearizable(history, kvRegister, { maxSteps: 5_000 });
    assert.equal(result.ok, false);
    assert.equal(result.verdict, 'unknown');
    assert.deepEqual(result.undecidedKeys, ['x']);
    assert.ok(result.steps <= 5_000);
  });

  test('an operation that completes before it is invoked is refused', () => {
    assert.throws(() => checkLinearizable([write('a', 'x', '1', 5, 4)], kvRegister), /completes before it is invoked/);
  });
});

describe('vector set histories', () => {
  const v1 = [0.1, 0.2, 0.3];
  const v2 = [0.4, 0.5, 0.6];
  const upsert = (client: string, vector: number[], invokeMs: number, completeMs: number | null): Operation<VectorInput, readonly number[] | null> =>
    ({ client, input: { kind: 'upsert', id: 'doc-1', vector }, invokeMs, completeMs });
  const remove = (client: string, invokeMs: number, completeMs: number | null): Operation<VectorInput, readonly number[] | null> =>
    ({ client, input: { kind: 'delete', id: 'doc-1' }, invokeMs, completeMs });
  const get = (client: string, output: readonly number[] | null, invokeMs: number, completeMs: number): Operation<VectorInput, readonly number[] | null> =>
    ({ client, input: { kind: 'get', id: 'doc-1' }, output, invokeMs, completeMs });

  test('a vector read back as float32 is the vector written', () => {
    const asStored = Array.from(Float32Array.from(v1));
    assert.equal(checkLinearizable([upsert('a', v1, 0, 1), get('b', asStored, 2, 3)], vectorSet).verdict, 'linearizable');
  });

  test('absent after a completed upsert, or the old vector after a completed replace, is an anomaly', () => {
    assert.equal(checkLinearizable([upsert('a', v1, 0, 1), get('b', null, 2, 3)], vectorSet).verdict, 'not-linearizable');
    assert.equal(checkLinearizable([upsert('a', v1, 0, 1), upsert('a', v2, 2, 3), get('b', v1, 4, 5)], vectorSet).verdict, 'not-linearizable');
    assert.equal(checkLinearizable([upsert('a', v1, 0, 1), get('b', [0.1, 0.2, 0.31], 2, 3)], vectorSet).verdict, 'not-linearizable');
  });

  test('deletes: absent after a completed delete, the vector again only after another upsert', () => {
    assert.equal(checkLinearizable([upsert('a', v1, 0, 1), remove('a', 2, 3), get('b', null, 4, 5)], vectorSet).verdict, 'linearizable');
    assert.equal(checkLinearizable([upsert('a', v1, 0, 1), remove('a', 2, 3), get('b', v1, 4, 5)], vectorSet).verdict, 'not-linearizable');
    assert.equal(checkLinearizable([upsert('a', v1, 0, 1), remove('a', 2, 3), upsert('c', v1, 3, 4), get('b', v1, 5, 6)], vectorSet).verdict, 'linearizable');
  });
});

describe('session reads', () => {
  test('a client sees its own completed write, or a later one', () => {
    const history = [write('a', 'x', '1', 0, 1), read('a', 'x', '1', 2, 3), write('b', 'x', '2', 4, 5), read('a', 'x', '2', 6, 7)];
    assert.deepEqual(checkSessionReads(history, kvRegister), { ok: true, violations: [] });
  });

  test('a client that reads the state from before its own write is a violation', () => {
    const own = write('a', 'x', '2', 2, 3);
    const stale = read('a', 'x', '1', 4, 5);
    const result = checkSessionReads([write('b', 'x', '1', 0, 1), own, stale], kvRegister);
    assert.equal(result.ok, false);
    assert.equal(result.violations.length, 1);
    assert.equal(result.violations[0]!.read, stale);
    assert.equal(result.violations[0]!.ownWrite, own);
    assert.equal(checkSessionReads([own, read('a', 'x', null, 4, 5)], kvRegister).ok, false);
  });

  test("another client's write need not be seen: session-consistent, yet not linearizable", () => {
    const history = [write('a', 'x', '1', 0, 1), read('b', 'x', null, 2, 3)];
    assert.equal(checkSessionReads(history, kvRegister).ok, true);
    assert.equal(checkLinearizable(history, kvRegister).ok, false);
  });

  test('a concurrent write by another client may hide the own one', () => {
    const history = [write('a', 'x', '1', 0, 3), write('b', 'x', '2', 1, 10), read('a', 'x', '2', 4, 5)];
    assert.equal(checkSessionReads(history, kvRegister).ok, true);
  });

  test('a write of unknown outcome is not a write the client knows it made', () => {
    assert.equal(checkSessionReads([write('a', 'x', '1', 0, null), read('a', 'x', null, 5, 6)], kvRegister).ok, true);
  });
});

/**
 * A history recorded from a real sequential execution: each operation takes effect at its own
 * moment (10 ms apart) on a Map, and its invoke and complete times are drawn around that moment;
 * each client's operations do not overlap. Some writes time out (unknown outcome): half of them
 * took effect. Values are unique per write.
 */
function recordedHistory(random: Random, count: number, keys: number, clients: number): KvOp[] {
  const register = new Map<string, string>();
  const history: KvOp[] = [];
  const halfWidthMs = Math.floor((clients * 10) / 2) - 1;
  for (let i = 0; i < count; i++) {
    const atMs = 1_000 + i * 10;
    const client = `c${i % clients}`;
    const key = `k${randomInt(random, keys)}`;
    const invokeMs = atMs - randomInt(random, halfWidthMs + 1);
    const completeMs = atMs + randomInt(random, halfWidthMs + 1);
    if (random() < 0.5) {
      const value = `v${i}`;
      const timedOut = random() < 0.1;
      if (!timedOut || random() < 0.5) register.set(key, value);
      history.push(write(client, key, value, invokeMs, timedOut ? null : completeMs));
    } else {
      history.push(read(client, key, register.get(key) ?? null, invokeMs, completeMs));
    }
  }
  return history;
}

const isRead = (op: KvOp) => op.input.kind === 'read' && op.completeMs !== null;
const knownWritesTo = (history: KvOp[], key: string) => history.filter((op) => op.input.kind === 'write' && op.input.key === key && op.completeMs !== null);

/** A read made stale: after write w1 completed, it returns the value of a write w0 that completed before w1 began. */
function injectStaleRead(history: KvOp[], random: Random): KvOp | undefined {
  const candidates = history.flatMap((r, index) => {
    if (!isRead(r)) return [];
    const writes = knownWritesTo(history, r.input.key);
    const olds = writes.filter((w0) => writes.some((w1) => w0.completeMs! < w1.invokeMs && w1.completeMs! < r.invokeMs));
    return olds.map((w0) => ({ index, value: (w0.input as { value: string }).value }));
  });
  if (candidates.length === 0) return undefined;
  const { index, value } = candidates[randomInt(random, candidates.length)]!;
  history[index] = { ...history[index]!, output: value };
  return history[index];
}

/** The client's latest write to the read's key that completed before the read began. */
function ownWriteBefore(history: KvOp[], r: KvOp): KvOp | undefined {
  return knownWritesTo(history, r.input.key).filter((w) => w.client === r.client && w.completeMs! < r.invokeMs).at(-1);
}

describe('seeded random histories', () => {
  test('histories recorded from a sequential execution are linearizable and session-consistent', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const history = recordedHistory(seeded(seed), 150, 3, 4);
      const result = checkLinearizable(history, kvRegister);
      assert.equal(result.verdict, 'linearizable', `seed ${seed}: ${result.anomaly?.description}`);
      assert.equal(checkSessionReads(history, kvRegister).ok, true, `seed ${seed}`);
    }
  });

  test('an injected stale read, read of a value never written, or lost write is found', () => {
    let stale = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const random = seeded(1000 + seed);
      const history = recordedHistory(random, 150, 3, 4);
      const reads = history.map((op, i) => [op, i] as const).filter(([op]) => isRead(op));
      const kind = seed % 3;
      let injected: KvOp | undefined;
      if (kind === 0) {
        injected = injectStaleRead(history, random);
        if (injected !== undefined) stale++;
      } else if (kind === 1) {
        const [op, i] = reads[randomInt(random, reads.length)]!;
        injected = history[i] = { ...op, output: 'never-written' };
      } else {
        const after = reads.filter(([op]) => knownWritesTo(history, op.input.key).some((w) => w.completeMs! < op.invokeMs));
        const [op, i] = after[randomInt(random, after.length)]!;
        injected = history[i] = { ...op, output: null };
      }
      if (injected === undefined) continue;
      const result = checkLinearizable(history, kvRegister);
      assert.equal(result.verdict, 'not-linearizable', `seed ${seed}: injection ${kind} not found`);
      assert.ok(result.anomaly!.operations.includes(injected), `seed ${seed}: the anomaly names the injected read`);
      assert.ok(result.anomaly!.operations.length <= 4, `seed ${seed}: a minimal sub-history, not ${result.anomaly!.operations.length} operations`);
    }
    assert.ok(stale >= 15, `stale reads injected in ${stale} of 20 histories`);
  });

  test("an injected read of the state before a client's own write breaks session consistency", () => {
    let checked = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const random = seeded(2000 + seed);
      const history = recordedHistory(random, 150, 3, 4);
      const target = history.findIndex((r) => isRead(r) && ownWriteBefore(history, r) !== undefined);
      if (target === -1) continue;
      const own = ownWriteBefore(history, history[target]!)!;
      const before = knownWritesTo(history, own.input.key).filter((w) => w.completeMs! < own.invokeMs).at(-1);
      history[target] = { ...history[target]!, output: before === undefined ? null : (before.input as { value: string }).value };
      assert.equal(checkSessionReads(history, kvRegister).ok, false, `seed ${seed}`);
      checked++;
    }
    assert.ok(checked >= 30, `${checked} histories had a read after an own write`);
  });
});

describe('seeded random vector set histories', () => {
  type VectorOp = Operation<VectorInput, readonly number[] | null>;

  /** As recordedHistory, for upsert / delete / get of a few ids, vectors stored as float32. */
  function recordedVectorHistory(random: Random, count: number): VectorOp[] {
    const stored = new Map<string, readonly number[]>();
    const history: VectorOp[] = [];
    for (let i = 0; i < count; i++) {
      const atMs = 1_000 + i * 10;
      const id = `doc-${randomInt(random, 3)}`;
      const times = { client: `c${i % 4}`, invokeMs: atMs - randomInt(random, 20), completeMs: atMs + randomInt(random, 20) };
      const draw = random();
      if (draw < 0.4) {
        const vector = [random(), random(), random(), random()];
        stored.set(id, Array.from(Float32Array.from(vector)));
        history.push({ ...times, input: { kind: 'upsert', id, vector } });
      } else if (draw < 0.5) {
        stored.delete(id);
        history.push({ ...times, input: { kind: 'delete', id } });
      } else {
        history.push({ ...times, input: { kind: 'get', id }, output: stored.get(id) ?? null });
      }
    }
    return history;
  }

  test('recorded histories are linearizable; a get that returns a vector never written is found', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const random = seeded(3000 + seed);
      const history = recordedVectorHistory(random, 120);
      assert.equal(checkLinearizable(history, vectorSet).verdict, 'linearizable', `seed ${seed}`);
      const gets = history.flatMap((op, i) => (op.input.kind === 'get' && op.output !== null ? [i] : []));
      const target = gets[randomInt(random, gets.length)]!;
      const changed = history[target]!.output!.map((x, d) => (d === 0 ? x + 0.5 : x));
      history[target] = { ...history[target]!, output: changed };
      const result = checkLinearizable(history, vectorSet);
      assert.equal(result.verdict, 'not-linearizable', `seed ${seed}`);
      assert.deepEqual(result.anomaly!.operations, [history[target]], `seed ${seed}`);
    }
  });
});

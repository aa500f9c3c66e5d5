// One contract for every QuotaStore (src/router/quotas.ts): the local in-memory store now, the
// etcd-shared one of the cluster later. Time is a manual clock, so nothing here depends on how fast
// the machine is: tokens refill only when a test moves the clock.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { Clock, QuotaStore, TokenRequest } from '../../src/router/quotas.ts';

/** A clock that moves only when told; sleepers wake when it passes their time. */
export class ManualClock implements Clock {
  private now = 1_000_000;
  private sleepers: { dueMs: number; resolve: () => void }[] = [];

  nowMs(): number {
    return this.now;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const sleeper = { dueMs: this.now + ms, resolve };
      this.sleepers.push(sleeper);
      signal.addEventListener('abort', () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        reject(signal.reason);
      }, { once: true });
    });
  }

  get sleeping(): number {
    return this.sleepers.length;
  }

  /** Moves time on and wakes whoever is due, then lets their continuations run. */
  async advance(ms: number): Promise<void> {
    this.now += ms;
    const due = this.sleepers.filter((s) => s.dueMs <= this.now);
    this.sleepers = this.sleepers.filter((s) => s.dueMs > this.now);
    for (const s of due) s.resolve();
    await settle();
  }
}

/** Lets pending promise continuations (and an implementation's own I/O turn) run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Records whether a promise has settled, without awaiting it. */
function watch<T>(promise: Promise<T>): { done: boolean; value?: T; error?: unknown; promise: Promise<T> } {
  const state: { done: boolean; value?: T; error?: unknown; promise: Promise<T> } = { done: false, promise };
  promise.then((value) => { state.done = true; state.value = value; }, (error: unknown) => { state.done = true; state.error = error; });
  return state;
}

export function quotaStoreContract(name: string, makeStore: (clock: ManualClock) => QuotaStore | Promise<QuotaStore>): void {
  describe(`QuotaStore contract: ${name}`, () => {
    const fresh = async () => {
      const clock = new ManualClock();
      return { clock, store: await makeStore(clock) };
    };
    const never = new AbortController().signal;
    const req = (over: Partial<TokenRequest>): TokenRequest => ({ role: 'app', bucket: 'searches', count: 1, ratePerSecond: 5, maxWaitMs: 0, signal: never, ...over });

    test('a new bucket holds one second of tokens (burst = rate), then refuses without waiting', async () => {
      const { store } = await fresh();
      for (let i = 0; i < 5; i++) assert.equal(await store.take(req({})), true, `token ${i}`);
      assert.equal(await store.take(req({})), false);
    });

    test('tokens refill at the rate, never above one second of them', async () => {
      const { store, clock } = await fresh();
      assert.equal(await store.take(req({ count: 5 })), true);
      await clock.advance(200);
      assert.equal(await store.take(req({})), true, 'one token after 200 ms at 5/s');
      assert.equal(await store.take(req({})), false);
      await clock.advance(60_000);
      assert.equal(await store.take(req({ count: 5 })), true);
      assert.equal(await store.take(req({})), false, 'a minute idle still leaves only the burst');
    });

    test('waits for tokens up to maxWaitMs; longer would be refused at once and takes nothing', async () => {
      const { store, clock } = await fresh();
      assert.equal(await store.take(req({ count: 5 })), true);
      assert.equal(await store.take(req({ maxWaitMs: 100 })), false, 'the next token is 200 ms away');
      const waiting = watch(store.take(req({ maxWaitMs: 250 })));
      await settle();
      assert.equal(waiting.done, false, 'waits for its token');
      await clock.advance(199);
      assert.equal(waiting.done, false);
      await clock.advance(1);
      await waiting.promise;
      assert.equal(waiting.value, true);
    });

    test('waiters are served in order: a later request cannot overtake an earlier one', async () => {
      const { store, clock } = await fresh();
      await store.take(req({ count: 5 }));
      const first = watch(store.take(req({ maxWaitMs: 500 })));
      await settle();
      const second = watch(store.take(req({ maxWaitMs: 500 })));
      await settle();
      assert.equal(await store.take(req({ maxWaitMs: 500 })), false, 'third in line would wait 600 ms');
      await clock.advance(200);
      assert.equal(first.done && first.value, true);
      assert.equal(second.done, false);
      await clock.advance(200);
      assert.equal(second.done && second.value, true);
    });

    test('an aborted wait rejects with the reason and gives its tokens back', async () => {
      const { store, clock } = await fresh();
      await store.take(req({ count: 5 }));
      const controller = new AbortController();
      const waiting = watch(store.take(req({ maxWaitMs: 1000, signal: controller.signal })));
      await settle();
      controller.abort(new Error('canceled'));
      await settle();
      assert.equal(waiting.done, true);
      assert.equal((waiting.error as Error).message, 'canceled');
      await clock.advance(200);
      assert.equal(await store.take(req({})), true, 'the aborted request took nothing');
      const aborted = new AbortController();
      aborted.abort(new Error('before'));
      await assert.rejects(store.take(req({ signal: aborted.signal })), /before/);
    });

    test('a request larger than the burst goes through on a full bucket and leaves it in debt', async () => {
      const { store, clock } = await fresh();
      assert.equal(await store.take(req({ count: 20 })), true);
      assert.equal(await store.take(req({ maxWaitMs: 2000 })), false, '15 tokens of debt: 3.2 s to the next one');
      await clock.advance(3000);
      assert.equal(await store.take(req({})), false);
      await clock.advance(200);
      assert.equal(await store.take(req({})), true);
    });

    test('roles and buckets are separate', async () => {
      const { store } = await fresh();
      await store.take(req({ count: 5 }));
      assert.equal(await store.take(req({})), false);
      assert.equal(await store.take(req({ role: 'other' })), true);
      assert.equal(await store.take(req({ bucket: 'write_rows' })), true);
    });

    test('a lower rate applies at once: the bucket holds at most the new second of tokens', async () => {
      const { store } = await fresh();
      assert.equal(await store.take(req({ ratePerSecond: 100, count: 1 })), true);
      assert.equal(await store.take(req({ ratePerSecond: 2, count: 2 })), true);
      assert.equal(await store.take(req({ ratePerSecond: 2 })), false);
    });

    test('concurrency slots: at most the limit held, released once each, per role', async () => {
      const { store } = await fresh();
      const a = await store.acquire('app', 2);
      const b = await store.acquire('app', 2);
      assert.ok(a !== null && b !== null);
      assert.equal(await store.acquire('app', 2), null);
      assert.notEqual(await store.acquire('other', 2), null, 'another role has its own slots');
      a();
      a();
      const c = await store.acquire('app', 2);
      assert.notEqual(c, null, 'a released slot is free again');
      assert.equal(await store.acquire('app', 2), null, 'releasing twice freed only one slot');
      assert.notEqual(await store.acquire('app', 3), null, 'a higher limit admits one more');
    });
  });
}

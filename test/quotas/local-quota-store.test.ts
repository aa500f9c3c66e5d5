// The per-proxy QuotaStore: the shared contract, its bound on remembered roles, and the real clock.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { LocalQuotaStore, REAL_CLOCK } from '../../src/router/quotas.ts';
import { quotaStoreContract, ManualClock } from './quota-store-contract.ts';

quotaStoreContract('LocalQuotaStore', (clock) => new LocalQuotaStore({ maxTrackedRoles: 100, clock }));

test('remembers at most maxTrackedRoles idle roles; a role holding a slot is never forgotten', async () => {
  const store = new LocalQuotaStore({ maxTrackedRoles: 3, clock: new ManualClock() });
  const never = new AbortController().signal;
  const held = await store.acquire('busy', 1);
  assert.notEqual(held, null);
  for (let i = 0; i < 50; i++) {
    assert.equal(await store.take({ role: `r${i}`, bucket: 'searches', count: 1, ratePerSecond: 1, maxWaitMs: 0, signal: never }), true);
    assert.ok(store.trackedRoles <= 3, `${store.trackedRoles} roles tracked`);
  }
  assert.equal(await store.acquire('busy', 1), null, 'the busy role kept its slot through the evictions');
  held!();
  assert.notEqual(await store.acquire('busy', 1), null);
});

test('with the real clock a short wait ends with the tokens, and an abort ends it early', async () => {
  const store = new LocalQuotaStore({ maxTrackedRoles: 10, clock: REAL_CLOCK });
  const never = new AbortController().signal;
  const request = { role: 'app', bucket: 'searches', count: 1, ratePerSecond: 50, maxWaitMs: 10_000, signal: never };
  assert.equal(await store.take({ ...request, count: 50 }), true);
  assert.equal(await store.take(request), true, 'waited about 20 ms for a token');
  const controller = new AbortController();
  const waiting = store.take({ ...request, count: 100, signal: controller.signal });
  controller.abort(new Error('stop'));
  await assert.rejects(waiting, /stop/);
});

// A rate limit's refusal comes after quotaMaxWaitMs, not at once: a client that loops over its quota
// sends at most one statement per connection per quotaMaxWaitMs (bench/tenants.ts showed that
// immediate refusals let a flooding tenant cost the proxy and PostgreSQL about what searches do). The
// wait is a lower bound (a sleep), so the assertion cannot fail on a slow machine.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { connectAs, createOwnCollection, createTenant, failure, setUpSchema } from './tenant-fixture.ts';

const WAIT_MS = 400;
let stack: Stack;
let client: pg.Client;

before(async () => {
  stack = await startStack({ config: { quotaMaxWaitMs: WAIT_MS } });
  await setUpSchema(stack.cluster);
  await createTenant(stack.cluster, 'vg_looper', { max_searches_per_second: 1 });
  client = await connectAs(stack, 'vg_looper');
  await createOwnCollection(client, 'looped');
});
after(async () => {
  await client?.end();
  await stack?.stop();
});

const threeSearches = `SELECT count(*) FROM vector_search('looped', '[1,0]', 1) x, vector_search('looped', '[0,1]', 1) y, vector_search('looped', '[1,1]', 1) z`;

test('a search over the rate is refused (53400) only after quotaMaxWaitMs', async () => {
  const started = performance.now();
  const err = await failure(client.query(threeSearches));
  const tookMs = performance.now() - started;
  assert.equal(err.code, '53400');
  assert.match(err.hint ?? '', new RegExp(`waited ${WAIT_MS} ms`));
  assert.ok(tookMs >= WAIT_MS, `refused after ${tookMs.toFixed(0)} ms`);
  assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1, 'the session goes on');
});

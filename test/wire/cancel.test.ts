// CancelRequest through the proxy: the client's cancel connection closes only after the cancel has
// reached PostgreSQL (PostgreSQL closes its cancel connection after signalling the backend), so a
// driver that sends its next statement once the cancel connection is closed cannot have it cancelled.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-CANCELING-REQUESTS
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startCluster, ROLES, DATABASE } from '../helpers/cluster.ts';
import { startRelay } from '../helpers/tcp-relay.ts';
import { sendCancelRequest } from '../helpers/raw-client.ts';
import { makeConfig } from '../../src/config.ts';
import { startProxy } from '../../src/wire/server.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createLogger } from '../../src/log.ts';

/** Cleanups run last-registered first, also when the test fails. */
function cleanups(t: { after(fn: () => Promise<void>): void }): (fn: () => Promise<unknown>) => void {
  const stack: (() => Promise<unknown>)[] = [];
  t.after(async () => { for (const fn of stack.reverse()) await fn().catch(() => undefined); });
  return (fn) => { stack.push(fn); };
}

/** PostgreSQL, a relay in front of it that sees cancel connections, and the proxy using the relay. */
async function proxyBehindRelay(defer: ReturnType<typeof cleanups>) {
  const cluster = await startCluster();
  defer(() => cluster.stop());
  const relay = await startRelay(cluster.port);
  defer(() => relay.stop());
  const config = makeConfig({ listenPort: 0, upstreamPort: relay.port, logLevel: 'silent', metricsPort: 0 });
  const proxy = await startProxy(config, createMetrics(), createLogger(config.logLevel));
  defer(() => proxy.close());
  return { cluster, relay, proxy };
}

test('the cancel connection closes after the upstream closed its own, with the query cancelled', async (t) => {
  const defer = cleanups(t);
  const { cluster, relay, proxy } = await proxyBehindRelay(defer);
  const client = new pg.Client({ host: '127.0.0.1', port: proxy.port, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
  defer(() => client.end());
  const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };

  const sleeping = client.query('SELECT pg_sleep(60)').then(() => 'finished', (err: { code?: string }) => err.code);
  const admin = await cluster.admin();
  defer(() => admin.end());
  while ((await admin.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE 'SELECT pg_sleep%' AND state = 'active'`, [processID])).rowCount === 0);

  await sendCancelRequest('127.0.0.1', proxy.port, processID, secretKey);
  assert.equal(relay.cancelsDelivered, 1, 'PostgreSQL had closed its cancel connection first');
  assert.equal(await sleeping, '57014');
  assert.equal((await client.query('SELECT 1 AS x')).rows[0].x, 1, 'the next statement is not cancelled');
});

test('a cancel for an unknown key closes at once, with nothing sent upstream', async (t) => {
  const { relay, proxy } = await proxyBehindRelay(cleanups(t));
  await sendCancelRequest('127.0.0.1', proxy.port, 1, 2);
  assert.equal(relay.cancelsDelivered, 0);
});

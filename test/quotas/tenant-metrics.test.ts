// Per-tenant metrics with bounded role labels, read from the real Prometheus endpoint, and the
// endpoint's bearer token: required when set (401 without or with a wrong one), and required to start
// at all on an address that is not loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type pg from 'pg';
import { startCluster, type TestCluster } from '../helpers/cluster.ts';
import { runProcess } from '../helpers/run-process.ts';
import { makeConfig } from '../../src/config.ts';
import { startProxy, type ProxyServer } from '../../src/wire/server.ts';
import { createMetrics, type ProxyMetrics } from '../../src/metrics.ts';
import { createLogger } from '../../src/log.ts';
import { Collections } from '../../src/router/collections.ts';
import { freePort } from '../../src/cli/postgres-server.ts';
import { startMetricsServer } from '../../src/cli/metrics-server.ts';
import { connectAs, createOwnCollection, createTenant, failure, setUpSchema } from './tenant-fixture.ts';

const TOKEN = 'metrics-secret-token';
let cluster: TestCluster;
let collections: Collections;
let proxy: ProxyServer;
let metrics: ProxyMetrics;
let server: Server | null;
let metricsPort: number;
let vectorDir: string;
const clients: pg.Client[] = [];

before(async () => {
  cluster = await startCluster();
  vectorDir = mkdtempSync(join(tmpdir(), 'vectorgate-vectors-'));
  const config = makeConfig({ listenPort: 0, upstreamPort: cluster.port, logLevel: 'silent', metricsPort: 0, quotaMaxWaitMs: 0 });
  collections = await Collections.open(vectorDir, config);
  metrics = createMetrics({ maxTenantMetricRoles: 2 });
  proxy = await startProxy(config, metrics, createLogger('silent'), collections);
  metricsPort = await freePort();
  server = await startMetricsServer(metrics, { host: '127.0.0.1', port: metricsPort, bearerToken: TOKEN });
  await setUpSchema(cluster);
});
after(async () => {
  for (const client of clients) await client.end().catch(() => undefined);
  server?.close();
  await proxy?.close();
  await collections?.close();
  rmSync(vectorDir, { recursive: true, force: true });
  await cluster?.stop();
});

const scrape = (headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }, port = metricsPort) =>
  fetch(`http://127.0.0.1:${port}/metrics`, { headers });

test('per-tenant statements, rejections and latency; roles past maxTenantMetricRoles count as other', async () => {
  const stack = { proxyHost: '127.0.0.1' as const, proxyPort: proxy.port };
  for (const role of ['vg_m1', 'vg_m2', 'vg_m3']) await createTenant(cluster, role, { max_searches_per_second: 1 });
  for (const role of ['vg_m1', 'vg_m2', 'vg_m3']) {
    const client = await connectAs(stack, role);
    clients.push(client);
    await createOwnCollection(client, `${role}_docs`);
    await client.query(`SELECT id FROM vector_search('${role}_docs', '[1,0]', 1)`);
    assert.equal((await failure(client.query(`SELECT id FROM vector_search('${role}_docs', '[1,0]', 1)`))).code, '53400');
  }
  const response = await scrape();
  assert.equal(response.status, 200);
  const body = await response.text();
  assert.match(body, /^vectorgate_tenant_statements_total\{role="vg_m1",kind="search"\} 2$/m, 'the refused search counts as a statement too');
  assert.match(body, /^vectorgate_tenant_statements_total\{role="vg_m1",kind="create"\} 1$/m);
  assert.match(body, /^vectorgate_tenant_statements_total\{role="vg_m1",kind="write"\} 1$/m);
  assert.match(body, /^vectorgate_tenant_rejections_total\{role="vg_m2",limit="max_searches_per_second"\} 1$/m);
  assert.match(body, /^vectorgate_tenant_statement_seconds_count\{role="vg_m1"\} 4$/m);
  assert.match(body, /^vectorgate_tenant_rejections_total\{role="other",limit="max_searches_per_second"\} 1$/m, 'the third role is "other"');
  assert.doesNotMatch(body, /vg_m3/);
});

test('GET /metrics needs the bearer token when one is set: 401 without it or with a wrong one', async () => {
  const missing = await scrape({});
  assert.equal(missing.status, 401);
  assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer/);
  assert.equal((await scrape({ authorization: 'Bearer wrong' })).status, 401);
  assert.equal((await scrape({ authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` })).status, 401);
  assert.equal((await scrape({ authorization: `Bearer ${TOKEN}x` })).status, 401);
  assert.equal((await scrape()).status, 200);
});

test('an endpoint that is not on loopback needs a token: without one it refuses to start', async () => {
  await assert.rejects(startMetricsServer(metrics, { host: '0.0.0.0', port: await freePort(), bearerToken: null }), /not a loopback address, without a token: set metricsBearerToken/);
  const port = await freePort();
  const open = await startMetricsServer(metrics, { host: '0.0.0.0', port, bearerToken: TOKEN });
  try {
    assert.equal((await scrape({}, port)).status, 401);
    assert.equal((await scrape(undefined, port)).status, 200);
  } finally {
    open?.close();
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'vectorgate-metrics-'));
  try {
    const cli = await runProcess(process.execPath, ['bin/vectorgate.js', 'proxy', '--upstream', `postgres://127.0.0.1:${cluster.port}`,
      '--listen', '127.0.0.1:0', '--metrics-listen', `0.0.0.0:${await freePort()}`, '--data-dir', dataDir], { env: { ...process.env, VECTORGATE_METRICS_BEARER_TOKEN: '' } });
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /metrics endpoint would listen on 0\.0\.0\.0, which is not a loopback address/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

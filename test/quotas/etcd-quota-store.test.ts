// The etcd-shared QuotaStore against one real etcd member: the shared contract (one proxy), then what
// sharing means — two stores ("proxies") split a role's rate and share its concurrency slots, and a
// proxy that dies without a word returns its slots and its share once its lease expires.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { freePort } from '../../src/cli/postgres-server.ts';
import { EtcdMembers } from '../../src/cluster/etcd-members.ts';
import { EtcdQuotaStore } from '../../src/cluster/etcd-quotas.ts';
import { makeConfig, type Config } from '../../src/config.ts';
import { createEtcdClient } from '../../src/storage/etcd-client.ts';
import { ManualClock, quotaStoreContract } from './quota-store-contract.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-etcd-quotas-'));
let members: EtcdMembers;
const clients: Etcd3[] = [];
const stores: EtcdQuotaStore[] = [];
let prefixes = 0;

before(async () => { members = await EtcdMembers.start({ count: 1, dir: join(root, 'etcd') }); });
after(async () => {
  for (const store of stores) await store.close();
  for (const client of clients) client.close();
  await members?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** A proxy's store: its own client, on the namespace the test gives. */
async function openStore(config: Config, clock: ManualClock, proxyId?: string): Promise<{ store: EtcdQuotaStore; client: Etcd3 }> {
  const client = createEtcdClient({ endpoints: members.endpoints, callTimeoutMs: config.etcdCallTimeoutMs, maxReceiveBytes: 64 * 1024 * 1024 }).client;
  clients.push(client);
  const store = await EtcdQuotaStore.open({ client, endpoints: members.endpoints, config, clock, proxyId });
  stores.push(store);
  return { store, client };
}

const namespace = (over: Partial<Config> = {}) => makeConfig({ etcdPrefix: `/quota-test-${++prefixes}/`, etcdWatchRetryMs: 50, ...over });

/** A generous bound on waiting for a lease to expire or a watch to deliver, so a regression fails with a message instead of hanging. */
const WAIT_LIMIT_MS = 60_000;

/** Polls the store's view until it holds. */
async function until(holds: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const giveUpAt = Date.now() + WAIT_LIMIT_MS;
  while (!(await holds())) {
    if (Date.now() > giveUpAt) throw new Error(`${what}: not within ${WAIT_LIMIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

quotaStoreContract('EtcdQuotaStore (1 etcd member)', async (clock) => (await openStore(namespace(), clock)).store);

describe('EtcdQuotaStore shared by two proxies', () => {
  const never = new AbortController().signal;

  test('a role\'s concurrency limit is one budget across proxies; a released slot is free for the other', async () => {
    const config = namespace();
    const clock = new ManualClock();
    const { store: a } = await openStore(config, clock, 'proxy-a');
    const { store: b } = await openStore(config, clock, 'proxy-b');
    const a1 = await a.acquire('app', 3);
    const a2 = await a.acquire('app', 3);
    const b1 = await b.acquire('app', 3);
    assert.ok(a1 !== null && a2 !== null && b1 !== null);
    assert.equal(await b.acquire('app', 3), null, 'b sees a\'s two slots');
    assert.equal(await a.acquire('app', 3), null, 'a sees b\'s slot');
    assert.notEqual(await b.acquire('other', 3), null, 'another role has its own');
    a1();
    assert.notEqual(await a.acquire('app', 3), null, 'the slot a released is free again');
    b1();
    await until(async () => {
      const slot = await b.acquire('app', 3);
      if (slot !== null) slot();
      return slot !== null;
    }, 'b gets the slot b released');
  });

  test('two stores racing for the last slot: exactly one gets it', async () => {
    const config = namespace();
    const clock = new ManualClock();
    const { store: a } = await openStore(config, clock, 'proxy-a');
    const { store: b } = await openStore(config, clock, 'proxy-b');
    const got = await Promise.all([a.acquire('app', 1), b.acquire('app', 1), a.acquire('app', 1), b.acquire('app', 1)]);
    assert.equal(got.filter((slot) => slot !== null).length, 1, 'one slot among four tries');
  });

  test('each of N live proxies takes rate / N; a proxy that dies returns its slots and its share with its lease', async () => {
    const config = namespace({ proxyLeaseTtlSeconds: 2 });
    const clock = new ManualClock();
    const { store: a } = await openStore(config, clock, 'proxy-a');
    const request = (bucket: string) => ({ role: 'app', bucket, count: 1, ratePerSecond: 10, maxWaitMs: 0, signal: never });
    const other = await startProxyProcess(config, 'proxy-b', 'app', 2, 2);
    try {
      await until(() => a.liveProxies === 2, 'a sees the other proxy');
      for (let i = 0; i < 5; i++) assert.equal(await a.take(request('searches')), true, `token ${i} of a's 5`);
      assert.equal(await a.take(request('searches')), false, 'a holds half of 10/s');
      assert.equal(await a.acquire('app', 2), null, 'the other proxy holds both slots');
    } finally {
      await other.kill();
    }
    await until(() => a.liveProxies === 1, 'the dead proxy leaves the count');
    await until(async () => (await a.acquire('app', 2)) !== null, 'the dead proxy\'s slots vanish');
    await clock.advance(1000);
    for (let i = 0; i < 10; i++) assert.equal(await a.take(request('writes')), true, `token ${i} of the whole 10, alone`);
    assert.equal(await a.take(request('writes')), false);
  });
});

test('etcd that does not answer at open is 08006 naming the endpoint', async () => {
  const endpoint = `http://127.0.0.1:${await freePort()}`;
  const config = makeConfig({ etcdPrefix: '/none/', etcdCallTimeoutMs: 300 });
  const client = createEtcdClient({ endpoints: [endpoint], callTimeoutMs: config.etcdCallTimeoutMs, maxReceiveBytes: 64 * 1024 * 1024 }).client;
  try {
    await assert.rejects(EtcdQuotaStore.open({ client, endpoints: [endpoint], config }), (err: unknown) => {
      assert.equal((err as { code?: string }).code, '08006', String(err));
      assert.match(String((err as { detail?: string }).detail), new RegExp(endpoint));
      return true;
    });
  } finally {
    client.close();
  }
});

/** Another proxy in its own process, holding `slots` of the role's `limit`; kill() is SIGKILL (no revoke). */
async function startProxyProcess(config: Config, proxyId: string, role: string, slots: number, limit: number): Promise<{ kill(): Promise<void> }> {
  const script = fileURLToPath(new URL('./quota-proxy-process.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, members.endpoints.join(','), config.etcdPrefix, proxyId, role, String(slots), String(limit), String(config.proxyLeaseTtlSeconds)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const kill = () => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (text: string) => { if (text.includes('ready')) resolve(); });
      child.once('exit', (code) => reject(new Error(`proxy process exited (${code}): ${stderr}`)));
    });
  } catch (err) {
    await kill();
    throw err;
  }
  return { kill };
}

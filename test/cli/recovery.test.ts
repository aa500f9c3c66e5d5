// A `vectorgate proxy` restarted after SIGKILL with a collection only its write-ahead log holds (no
// snapshot) listens before the collection has recovered: pass-through SQL is answered meanwhile, and a
// vector statement on the collection gets 57P03 naming it (recoveryWaitMs 0) or, had the replay
// already ended, the right answer. The proxy's own log says "proxy listening" before "collection
// recovered", and afterwards every acknowledged row is there. A SIGTERM during the recovery still
// ends the proxy cleanly (exit 0), and the next start recovers everything again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startCluster, ROLES, DATABASE, type TestCluster } from '../helpers/cluster.ts';
import { freePort } from '../../src/cli/postgres-server.ts';
import { seeded } from '../helpers/random.ts';

const DIMS = 32;
/** Enough rows that their replay takes far longer than a connection and two statements. */
const ROWS = 40_000;

let cluster: TestCluster;
const dirs: string[] = [];
const children: ChildProcess[] = [];

before(async () => { cluster = await startCluster(); });
after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await cluster?.stop();
});

interface Proxy { child: ChildProcess; port: number; logs: { msg: string; [key: string]: unknown }[]; exited: Promise<number | null> }

async function startProxy(dataDir: string, env: Record<string, string> = {}): Promise<Proxy> {
  const port = await freePort();
  const child = spawn('node', ['bin/vectorgate.js', 'proxy', '--upstream', `postgres://127.0.0.1:${cluster.port}`,
    '--listen', `127.0.0.1:${port}`, '--metrics-listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'info'],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.push(child);
  const proxy: Proxy = { child, port, logs: [], exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  let partial = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.startsWith('{')) proxy.logs.push(JSON.parse(line));
      if (proxy.logs.some((l) => l.msg === 'proxy listening')) resolve();
    });
    void proxy.exited.then((code) => reject(new Error(`proxy exited ${code}: ${stderr}`)));
  });
  return proxy;
}

/** What the proxy logs once every collection (here docs and spare) has recovered, not just the first. */
const ALL_RECOVERED = 'every collection recovered or failed to';

function logIndex(proxy: Proxy, msg: string): number {
  return proxy.logs.findIndex((l) => l.msg === msg);
}

/** Waits (bounded) for a log line of the proxy. */
async function untilLogged(proxy: Proxy, msg: string): Promise<void> {
  for (let i = 0; i < 1200 && logIndex(proxy, msg) < 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(logIndex(proxy, msg) >= 0, `the proxy logged "${msg}"`);
}

async function connect(port: number): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
  return client;
}

/** Row i's vector: seeded by i, three decimals (so it reads back as written). */
function vectorOf(i: number): number[] {
  const random = seeded(i + 1);
  return Array.from({ length: DIMS }, () => Math.round((random() * 2 - 1) * 1000) / 1000);
}

async function writeLogOnly(dataDir: string): Promise<void> {
  const proxy = await startProxy(dataDir);
  const client = await connect(proxy.port);
  try {
    for (const [name, shards, rows] of [['docs', 2, ROWS], ['spare', 1, ROWS / 2]] as const) {
      await client.query(`SELECT vector_create_collection('${name}', ${DIMS}, shards => ${shards})`);
      const text = Array.from({ length: rows }, (_, i) => `r${i}\t[${vectorOf(i).join(',')}]\t{"i":${i}}\n`).join('');
      await pipeline(Readable.from([Buffer.from(text)]), client.query(copyFrom(`COPY ${name} (id, vector, payload) FROM STDIN`)));
    }
  } finally {
    await client.end();
  }
  // Every row is acknowledged (COPY returned); SIGKILL leaves them in the logs alone.
  proxy.child.kill('SIGKILL');
  await proxy.exited;
}

test('after SIGKILL the proxy listens at once; a recovering collection gets 57P03; then every row is there', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vectorgate-recovery-'));
  dirs.push(dataDir);
  await writeLogOnly(dataDir);

  const proxy = await startProxy(dataDir, { VECTORGATE_RECOVERY_WAIT_MS: '0' });
  const client = await connect(proxy.port);
  try {
    const passThrough = await client.query('SELECT 40 + 2 AS answer');
    assert.deepEqual(passThrough.rows, [{ answer: 42 }]);
    // A drop of a recovering collection is refused before its relation is dropped (that commits at once).
    const drop = await client.query(`SELECT vector_drop_collection('spare')`).then(() => 'dropped', (err: Error & { code?: string }) => `${err.code} ${err.message}`);
    const relation = (await client.query(`SELECT to_regclass('vectorgate.spare') IS NOT NULL AS present`)).rows[0].present as boolean;
    if (drop === 'dropped') assert.equal(relation, false, 'dropped once recovered: the relation went with it');
    else assert.deepEqual([drop, relation], ['57P03 collection "spare" is recovering', true]);
    t.diagnostic(`drop while recovering: ${drop}`);
    const search = await client.query(`SELECT id FROM vector_search('docs', '[${vectorOf(5).join(',')}]', 1)`).then(
      (r) => ({ rows: r.rows as { id: string }[] }), (err: Error & { code?: string }) => ({ code: err.code, message: err.message }));
    t.diagnostic(`search while recovering: ${JSON.stringify(search)}`);
    // 57P03: the pass-through statement before it was answered while the collection recovered.
    if ('code' in search) assert.deepEqual(search, { code: '57P03', message: 'collection "docs" is recovering' });
    else assert.deepEqual(search.rows, [{ id: 'r5' }], 'answered only once recovered, and rightly');
    await untilLogged(proxy, ALL_RECOVERED);
    assert.ok(logIndex(proxy, 'proxy listening') < logIndex(proxy, 'collection recovered'), 'listening before the collection recovered');

    const listed = (await client.query(`SELECT vectors FROM vector_collections() WHERE name = 'docs'`)).rows;
    assert.deepEqual(listed, [{ vectors: String(ROWS) }]);
    for (const i of [0, 1, 4999, 20_001, ROWS - 1]) {
      const got = (await client.query(`SELECT id, vector, payload FROM vector_get('docs', $1)`, [`r${i}`])).rows;
      assert.deepEqual(got, [{ id: `r${i}`, vector: vectorOf(i), payload: { i } }]);
    }
    assert.deepEqual((await client.query(`SELECT id FROM vector_search('docs', '[${vectorOf(5).join(',')}]', 1)`)).rows, [{ id: 'r5' }]);
  } finally {
    await client.end();
  }
  proxy.child.kill('SIGKILL');
  await proxy.exited;

  // SIGTERM at once (the collection recovering, unless its replay was quicker): a clean exit, nothing lost.
  const stopped = await startProxy(dataDir);
  stopped.child.kill('SIGTERM');
  assert.equal(await stopped.exited, 0);
  assert.ok(logIndex(stopped, 'collection recovered') >= 0 || logIndex(stopped, 'collection recovery stopped by the shutdown') >= 0,
    'the recovery either ended or was stopped by the shutdown, and the log says which');
  const last = await startProxy(dataDir);
  const check = await connect(last.port);
  try {
    await untilLogged(last, ALL_RECOVERED);
    assert.deepEqual((await check.query(`SELECT vectors FROM vector_collections() WHERE name = 'docs'`)).rows, [{ vectors: String(ROWS) }]);
  } finally {
    await check.end();
  }
  last.child.kill('SIGTERM');
  assert.equal(await last.exited, 0);
});

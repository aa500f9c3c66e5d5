// Graceful shutdown of `vectorgate proxy` always ends: SIGTERM lets a running statement finish, ends
// sessions whose clients never read (or never finished startup) at the grace deadline, exits 0; a
// second signal during a stuck shutdown exits at once (2); a snapshot that cannot be written (a full
// disk) still ends the shutdown, with exit code 1 and a log line saying why.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startCluster, ROLES, DATABASE, type TestCluster } from '../helpers/cluster.ts';
import { WireClient, serialize } from '../helpers/wire-client.ts';
import { freePort } from '../../src/cli/postgres-server.ts';
import { COLLECTIONS_DIR } from '../../src/storage/catalog.ts';

let cluster: TestCluster;
const dirs: string[] = [];
const mounts: string[] = [];
const children: ChildProcess[] = [];
const sockets: Socket[] = [];

before(async () => { cluster = await startCluster(); });
after(async () => {
  for (const socket of sockets) socket.destroy();
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of mounts) spawnSync('umount', ['-l', dir]);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await cluster?.stop();
});

interface Proxy {
  child: ChildProcess;
  port: number;
  /** pino's JSON lines so far. */
  logs: { msg: string; [key: string]: unknown }[];
  exited: Promise<number | null>;
  /** How it ended, for assertion messages: the signal that killed it, if one did, and the end of its stderr. */
  howItEnded(): string;
}

async function startProxy(dataDir: string, env: Record<string, string>): Promise<Proxy> {
  return spawnVectorgate(['proxy', '--upstream', `postgres://127.0.0.1:${cluster.port}`], dataDir, env, 'proxy listening');
}

async function spawnVectorgate(command: string[], dataDir: string, env: Record<string, string>, readyMessage: string): Promise<Proxy> {
  const port = await freePort();
  const child = spawn('node', ['bin/vectorgate.js', ...command,
    '--listen', `127.0.0.1:${port}`, '--metrics-listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'info'],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.push(child);
  let partial = '';
  let stderr = '';
  const proxy: Proxy = {
    child, port, logs: [],
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    howItEnded: () => `signal ${child.signalCode ?? 'none'}; stderr: ${stderr.slice(-2000)}`,
  };
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const listening = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.startsWith('{')) proxy.logs.push(JSON.parse(line));
      if (proxy.logs.some((l) => l.msg === readyMessage)) resolve();
    });
    void proxy.exited.then((code) => reject(new Error(`proxy exited ${code}: ${stderr}`)));
  });
  await listening;
  return proxy;
}

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vectorgate-shutdown-'));
  dirs.push(dir);
  return dir;
}

function pgClient(port: number): pg.Client {
  const client = new pg.Client({ host: '127.0.0.1', port, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  return client;
}

/** Waits (bounded) until PostgreSQL itself shows a backend running this statement. */
async function untilRunning(sqlPrefix: string): Promise<void> {
  const admin = await cluster.admin();
  try {
    for (let i = 0; i < 600; i++) {
      const { rows } = await admin.query(`SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1`, [`${sqlPrefix}%`]);
      if (rows.length > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no backend ran ${sqlPrefix}`);
  } finally {
    await admin.end();
  }
}

/** A client that sends 400 statements of 100 kB results and never reads one. */
async function neverReading(port: number): Promise<WireClient> {
  const client = await WireClient.connect(port, ROLES.trust.user, DATABASE);
  sockets.push(client.socket);
  client.socket.pause();
  client.send(...Array.from({ length: 400 }, () => serialize.query(`SELECT repeat('x', 100000)`)));
  return client;
}

/** A socket that starts a startup packet and never finishes it. */
function halfOpen(port: number): Socket {
  const socket = connect(port, '127.0.0.1', () => socket.write(Buffer.from([0, 0, 0])));
  socket.on('error', () => undefined);
  sockets.push(socket);
  return socket;
}

test('SIGTERM lets a running statement finish, ends abusive sessions at the grace deadline, exits 0', async () => {
  const proxy = await startProxy(dataDir(), { VECTORGATE_SHUTDOWN_GRACE_MS: '6000' });
  const client = pgClient(proxy.port);
  const ended = new Promise<string>((resolve) => client.on('error', (err: Error & { code?: string }) => resolve(String(err.code))));
  await client.connect();
  await neverReading(proxy.port);
  halfOpen(proxy.port);
  await untilRunning(`SELECT repeat('x', 100000)`);
  const running = client.query('SELECT pg_sleep(1.5) AS slept, 42 AS answer');
  await untilRunning('SELECT pg_sleep(1.5)');
  proxy.child.kill('SIGTERM');
  const result = await running;
  assert.deepEqual(result.rows, [{ slept: '', answer: 42 }], 'the running statement finished');
  assert.equal(await ended, '57P01', 'then its session ended as PostgreSQL ends one at shutdown');
  assert.equal(await proxy.exited, 0, proxy.howItEnded());
  assert.ok(proxy.logs.some((l) => l.msg === 'ending sessions whose statements did not finish in time'), 'the never-reading session was ended at the deadline');
});

test('a second SIGTERM during a stuck shutdown exits at once, with exit code 2', async () => {
  const proxy = await startProxy(dataDir(), { VECTORGATE_SHUTDOWN_GRACE_MS: '600000', VECTORGATE_SHUTDOWN_TIMEOUT_MS: '600000' });
  const client = pgClient(proxy.port);
  client.on('error', () => undefined);
  await client.connect();
  const stuck = client.query('SELECT pg_sleep(600)').catch(() => undefined);
  await untilRunning('SELECT pg_sleep(600)');
  proxy.child.kill('SIGTERM');
  for (let i = 0; i < 600 && !proxy.logs.some((l) => l.msg === 'shutting down'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(proxy.logs.some((l) => l.msg === 'shutting down'), 'the first SIGTERM started the shutdown');
  proxy.child.kill('SIGTERM');
  assert.equal(await proxy.exited, 2, proxy.howItEnded());
  assert.ok(proxy.logs.some((l) => l.msg === 'SIGTERM again: exiting at once, without finishing the shutdown'));
  await stuck;
  await client.end().catch(() => undefined);
  await cancelBackends('SELECT pg_sleep(600)');
});

async function cancelBackends(sql: string): Promise<void> {
  const admin = await cluster.admin();
  try {
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1', [sql]);
  } finally {
    await admin.end();
  }
}

/**
 * A data directory whose disk is full at shutdown: as root a small tmpfs, filled after the writes;
 * otherwise the shard's snapshot directory is made a file, which fails the snapshot as really.
 */
async function fillDisk(dir: string): Promise<void> {
  if (process.getuid?.() === 0) {
    const filler = Buffer.alloc(64 * 1024, 1);
    for (let i = 0; ; i++) {
      try {
        writeFileSync(join(dir, `filler-${i}`), filler);
      } catch (err) {
        assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
        return;
      }
    }
  }
  const collections = join(dir, 'vectors', COLLECTIONS_DIR);
  for (const collection of readdirSync(collections)) {
    const snapshots = join(collections, collection, 'shard-0', 'snapshots');
    rmSync(snapshots, { recursive: true, force: true });
    writeFileSync(snapshots, 'not a directory');
  }
}

function smallDisk(): string {
  const dir = dataDir();
  if (process.getuid?.() !== 0) return dir;
  mkdirSync(dir, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir], { encoding: 'utf8' });
  assert.equal(mounted.status, 0, `mount tmpfs: ${mounted.stderr}`);
  mounts.push(dir);
  return dir;
}

test('a snapshot that cannot be written at shutdown (disk full) still ends it: exit 1 and a log line saying why', async () => {
  const dir = smallDisk();
  const proxy = await startProxy(dir, {});
  const client = pgClient(proxy.port);
  client.on('error', () => undefined);
  await client.connect();
  await client.query(`SELECT vector_create_collection('kept', 3)`);
  await client.query(`SELECT vector_upsert('kept', 'a', '[1,2,3]', '{"text":"acknowledged"}')`);
  await client.end();
  await fillDisk(dir);
  proxy.child.kill('SIGTERM');
  assert.equal(await proxy.exited, 1, proxy.howItEnded());
  const line = proxy.logs.find((l) => l.msg === 'stopped without a snapshot');
  assert.ok(line, 'a log line says the shutdown went without a snapshot');
  assert.match(String(line.err), /no snapshot of "kept" at shutdown: .*(No space left on device|ENOSPC|ENOTDIR|EEXIST).*write-ahead log keeps every acknowledged write/);
});

/** PostgreSQL outlives a SIGKILLed `vectorgate start`: stop whatever a failed run left. */
function stopLeftPostgres(dir: string): void {
  const pidFile = join(dir, 'pg', 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  try { process.kill(Number(readFileSync(pidFile, 'utf8').split('\n')[0]), 'SIGINT'); } catch { /* already gone */ }
}

test('vectorgate start stops its PostgreSQL even when the shutdown snapshot fails', async () => {
  const dir = dataDir();
  chmodSync(dir, 0o755);
  try {
    const started = await spawnVectorgate(['start'], dir, {}, 'proxy listening');
    const credentials = JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as { user: string; password: string; database: string };
    const client = new pg.Client({ host: '127.0.0.1', port: started.port, user: credentials.user, password: credentials.password, database: credentials.database });
    await client.connect();
    await client.query(`SELECT vector_create_collection('kept', 3)`);
    await client.query(`SELECT vector_upsert('kept', 'a', '[1,2,3]')`);
    await client.end();
    const collections = join(dir, 'vectors', COLLECTIONS_DIR);
    for (const collection of readdirSync(collections)) {
      const snapshots = join(collections, collection, 'shard-0', 'snapshots');
      rmSync(snapshots, { recursive: true, force: true });
      writeFileSync(snapshots, 'not a directory');
    }
    started.child.kill('SIGTERM');
    assert.equal(await started.exited, 1);
    assert.ok(started.logs.some((l) => l.msg === 'stopped without a snapshot'));
    assert.equal(existsSync(join(dir, 'pg', 'postmaster.pid')), false, 'PostgreSQL was stopped');
  } finally {
    stopLeftPostgres(dir);
  }
});

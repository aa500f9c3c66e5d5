// Starting and stopping what the benchmark measures against: PostgreSQL (test/helpers/cluster.ts),
// the vectorgate proxy as a child process (own event loop and CPU, as in production) and PgBouncer.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../src/cli/postgres-server.ts';
import { onCleanup } from './cleanup.ts';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const PGBENCH = '/usr/bin/pgbench';
export const PGBOUNCER = '/usr/sbin/pgbouncer';

export interface Endpoint {
  name: string;
  host: string;
  port: number;
  /** The process doing the proxying (for its CPU time); null for PostgreSQL itself. */
  pid: number | null;
  stop(): Promise<void>;
}

/** A child process whose stderr tail is kept for error messages. */
export interface Child {
  process: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  stop(timeoutMs?: number): Promise<void>;
}

export function spawnChild(command: string, args: string[], options: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Child {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let tail = '';
  const keep = (chunk: Buffer) => { tail = (tail + chunk.toString()).slice(-8000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((ok) => {
    if (child.exitCode !== null) ok(child.exitCode);
    child.once('exit', (code) => ok(code));
    child.once('error', (err) => { tail += `\n${err.message}`; ok(null); });
  });
  let running = true;
  void exited.then(() => { running = false; });
  return {
    process: child,
    output: () => tail,
    exited,
    async stop(timeoutMs = 10_000) {
      if (!running) return;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

function tcpAccepts(host: string, port: number): Promise<boolean> {
  return new Promise((ok) => {
    const socket = connect(port, host);
    socket.once('connect', () => { socket.destroy(); ok(true); });
    socket.once('error', () => ok(false));
  });
}

async function waitListening(child: Child, name: string, host: string, port: number, timeoutMs = 30_000): Promise<void> {
  let exited = false;
  void child.exited.then(() => { exited = true; });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${name} exited during start:\n${child.output()}`);
    if (await tcpAccepts(host, port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not listen on ${host}:${port} within ${timeoutMs} ms:\n${child.output()}`);
}

export interface ProxyOptions {
  upstreamPort: number;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  name?: string;
}

/** `node bin/vectorgate.js proxy …` as a child process. */
export async function startVectorgate(options: ProxyOptions): Promise<Endpoint> {
  const port = await freePort();
  const name = options.name ?? 'vectorgate';
  const child = spawnChild(process.execPath, [
    ...(options.nodeFlags ?? []),
    join(ROOT, 'bin', 'vectorgate.js'), 'proxy',
    '--upstream', `postgres://127.0.0.1:${options.upstreamPort}`,
    '--listen', `127.0.0.1:${port}`,
    '--log-level', 'warn',
    '--metrics-listen', '127.0.0.1:0',
  ], { cwd: ROOT });
  const stop = onCleanup(name, () => child.stop());
  try {
    await waitListening(child, name, '127.0.0.1', port);
  } catch (err) {
    await stop();
    throw err;
  }
  return { name, host: '127.0.0.1', port, pid: child.process.pid ?? null, stop };
}

/** bench/lib/node-pipe.ts: a protocol-blind Node byte pipe, the floor for a Node proxy. */
export async function startNodePipe(upstreamPort: number): Promise<Endpoint> {
  const port = await freePort();
  const child = spawnChild(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'lib', 'node-pipe.ts'), String(port), String(upstreamPort)], { cwd: ROOT });
  const stop = onCleanup('nodepipe', () => child.stop());
  try {
    await waitListening(child, 'nodepipe', '127.0.0.1', port);
  } catch (err) {
    await stop();
    throw err;
  }
  return { name: 'nodepipe', host: '127.0.0.1', port, pid: child.process.pid ?? null, stop };
}

export interface PgBouncerOptions {
  upstreamPort: number;
  database: string;
  user: string;
  password: string;
  poolMode: 'session' | 'transaction';
  poolSize: number;
}

function osUser(name: string): { uid: number; gid: number } | null {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return null;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

export function pgbouncerVersion(): string {
  const out = spawnSync(PGBOUNCER, ['--version'], { encoding: 'utf8' });
  return (out.stdout ?? '').split('\n')[0]?.trim() ?? 'unknown';
}

/**
 * PgBouncer with SCRAM on both sides (plain-text password in its auth_file, which it uses for the
 * server login as well). It refuses to run as root, so as root it runs as the `postgres` OS user.
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<Endpoint> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'vectorgate-bench-pgbouncer-'));
  const removeDir = onCleanup('pgbouncer dir', () => rmSync(dir, { recursive: true, force: true }));
  const user = process.getuid?.() === 0 ? osUser('postgres') : null;
  if (process.getuid?.() === 0 && user === null) throw new Error('pgbouncer refuses to run as root and there is no `postgres` OS user');
  const authFile = join(dir, 'userlist.txt');
  const ini = join(dir, 'pgbouncer.ini');
  writeFileSync(authFile, `"${options.user}" "${options.password}"\n`, { mode: 0o600 });
  writeFileSync(ini, [
    '[databases]',
    `${options.database} = host=127.0.0.1 port=${options.upstreamPort} dbname=${options.database}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    `auth_file = ${authFile}`,
    `pool_mode = ${options.poolMode}`,
    'max_client_conn = 200',
    `default_pool_size = ${options.poolSize}`,
    'ignore_startup_parameters = extra_float_digits',
    'log_connections = 0',
    'log_disconnections = 0',
    'log_pooler_errors = 1',
    'server_tls_sslmode = disable',
    '',
  ].join('\n'), { mode: 0o644 });
  chmodSync(dir, 0o755);
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(authFile, user.uid, user.gid);
    chownSync(ini, user.uid, user.gid);
  }
  const child = spawnChild(PGBOUNCER, [ini], user ?? {});
  const stopChild = onCleanup('pgbouncer', () => child.stop());
  try {
    await waitListening(child, 'pgbouncer', '127.0.0.1', port);
  } catch (err) {
    await stopChild();
    await removeDir();
    throw err;
  }
  return {
    name: 'pgbouncer',
    host: '127.0.0.1',
    port,
    pid: child.process.pid ?? null,
    async stop() { await stopChild(); await removeDir(); },
  };
}

let clockTicks = 0;

export interface ProcessStats {
  /** utime and stime of the process (all its threads), µs. */
  userUs: number;
  sysUs: number;
  /** Context switches of its main thread. */
  voluntary: number;
  involuntary: number;
}

export function processStats(pid: number): ProcessStats {
  if (clockTicks === 0) clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const ctx = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return {
    userUs: (Number(fields[11]) * 1e6) / clockTicks,
    sysUs: (Number(fields[12]) * 1e6) / clockTicks,
    voluntary: ctx('voluntary_ctxt_switches'),
    involuntary: ctx('nonvoluntary_ctxt_switches'),
  };
}

/** Difference of two samples, per `n` (statements). */
export function statsPer(a: ProcessStats, b: ProcessStats, n: number): ProcessStats {
  return {
    userUs: (b.userUs - a.userUs) / n,
    sysUs: (b.sysUs - a.sysUs) / n,
    voluntary: (b.voluntary - a.voluntary) / n,
    involuntary: (b.involuntary - a.involuntary) / n,
  };
}

/** utime + stime of a process (all its threads), in microseconds. */
export function cpuMicros(pid: number): number {
  const s = processStats(pid);
  return s.userUs + s.sysUs;
}

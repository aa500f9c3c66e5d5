// The vectorgate proxy as a child process with a data directory that outlives it, so the benchmark can
// stop it and time a restart on the same data: from spawn until a first query is answered.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../src/cli/postgres-server.ts';
import { onCleanup } from './cleanup.ts';
import { ROOT, spawnChild, type Child } from './processes.ts';

export interface Credentials { user: string; password: string; database: string }

export interface ProxyChild {
  port: number;
  pid: number;
  /** Milliseconds from spawn until `probe` first succeeded. */
  readyMs: number;
  /** Milliseconds from spawn until a connection was first accepted (startup and authentication done). */
  acceptedMs: number;
  stop(): Promise<void>;
  /** SIGKILL, as a crash: nothing is flushed or snapshotted on the way out. */
  crash(): Promise<void>;
}

export interface ProxyStart {
  upstreamPort: number;
  dataDir: string;
  credentials: Credentials;
  /** A statement that must succeed for the proxy to count as ready (e.g. a vector_search). */
  probe: string;
  env?: NodeJS.ProcessEnv;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
}

export async function startProxy(options: ProxyStart): Promise<ProxyChild> {
  const port = await freePort();
  const started = performance.now();
  const child = spawnChild(process.execPath, [
    ...(options.nodeFlags ?? []),
    join(ROOT, 'bin', 'vectorgate.js'), 'proxy',
    '--upstream', `postgres://127.0.0.1:${options.upstreamPort}`,
    '--listen', `127.0.0.1:${port}`,
    '--data-dir', options.dataDir,
    '--log-level', 'warn',
    '--metrics-listen', '127.0.0.1:0',
  ], { cwd: ROOT, env: { ...process.env, ...options.env } });
  const stop = onCleanup('vectorgate', () => child.stop(30_000));
  let acceptedMs = NaN;
  try {
    await firstAnswer(child, port, options, () => { if (Number.isNaN(acceptedMs)) acceptedMs = performance.now() - started; });
  } catch (err) {
    await stop();
    throw err;
  }
  const crash = async () => {
    child.process.kill('SIGKILL');
    await child.exited;
    await stop();
  };
  return { port, pid: child.process.pid!, readyMs: performance.now() - started, acceptedMs, stop, crash };
}

/**
 * Polls with a fresh connection every 20 ms until `probe` is answered; a proxy may accept connections
 * before its collections are open (then the probe fails or waits), so `onAccepted` marks the first
 * connection that got through startup.
 */
async function firstAnswer(child: Child, port: number, options: ProxyStart, onAccepted: () => void, timeoutMs = 1_800_000): Promise<void> {
  let exited = false;
  void child.exited.then(() => { exited = true; });
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`vectorgate exited during start:\n${child.output()}`);
    const client = new pg.Client({ host: '127.0.0.1', port, ...options.credentials });
    try {
      await client.connect();
      onAccepted();
      await client.query(options.probe);
      return;
    } catch (err) {
      last = err;
    } finally {
      await client.end().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`vectorgate did not answer within ${timeoutMs} ms (${String(last)}):\n${child.output()}`);
}

/** Resident set size of a process (all its threads), bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024;
}

/** Wall time of `vectorgate settings` (node + tsx start-up, no data): the floor under any restart. */
export async function processStartMs(): Promise<number> {
  const started = performance.now();
  const child = spawnChild(process.execPath, [join(ROOT, 'bin', 'vectorgate.js'), 'settings'], { cwd: ROOT });
  const code = await child.exited;
  if (code !== 0) throw new Error(`vectorgate settings exited ${code}:\n${child.output()}`);
  return performance.now() - started;
}

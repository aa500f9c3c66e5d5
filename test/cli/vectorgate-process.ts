// Runs `vectorgate start` as a child process the way a user runs it, waits for its ready line, and
// stops everything it left (a PostgreSQL outlives a SIGKILLed parent). Used by the start and first-run tests.
import { spawn, execFile, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after } from 'node:test';
import { join } from 'node:path';

export const REPO = join(import.meta.dirname, '..', '..');
export const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

export interface Started { child: ChildProcess; url: string; output: () => string }

/** `root`: the project to run it from (a copy, for a test of a different install). */
export async function startVectorgate(args: string[], options: SpawnOptions, root = REPO): Promise<Started> {
  const child = spawn(process.execPath, [join(root, 'bin', 'vectorgate.js'), 'start', ...args], { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within 120 s:\n${out}`)), 120_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /psql '([^']+)'/.exec(out);
      if (match) { clearTimeout(timer); resolve(match[1]!); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`vectorgate exited ${code}:\n${out}`)); });
  }).catch((err: unknown) => { child.kill('SIGKILL'); throw err; });
  return { child, url, output: () => out };
}

/** SIGTERM, as a user's Ctrl-C or a service manager ends it; resolves with the exit code. */
export async function stopVectorgate(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  return exited;
}

/** Stops a PostgreSQL left running on `pgDataDir` (after a failed test) and waits until it is gone. */
export async function stopLeftoverPostgres(pgDataDir: string): Promise<void> {
  const pidFile = join(pgDataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  try { process.kill(pid, 'SIGINT'); } catch { return; }
  for (;;) {
    try { process.kill(pid, 0); } catch { return; }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function psql(url: string, sql: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('psql', ['-X', '-At', '-c', sql, url], { timeout: 30_000, cwd: '/' }, (err, stdout, stderr) => (err ? reject(new Error(stderr || String(err))) : resolve(stdout.trim())));
  });
}

/**
 * A data directory for this test file's `vectorgate start` runs (readable by the PostgreSQL OS user),
 * and the children started in it. After the file: every child still running is killed, the
 * PostgreSQL a SIGKILLed parent left is stopped, and the directory removed.
 */
export function startDataDir(prefix: string): { dataDir: string; children: ChildProcess[] } {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dataDir, 0o755);
  const children: ChildProcess[] = [];
  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await stopLeftoverPostgres(join(dataDir, 'pg'));
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { dataDir, children };
}

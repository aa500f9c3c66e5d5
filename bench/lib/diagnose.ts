// Where a proxy's cost per statement goes at the OS level: user/system CPU time, context switches of
// its main thread, and (with strace) the system calls it makes per statement. Run against vectorgate
// and PgBouncer under the same load, so the two can be compared line by line.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { processStats, statsPer, type Endpoint, type ProcessStats } from './processes.ts';
import { selectOnly, type Connection, type Mode } from './pgbench.ts';
import { onCleanup } from './cleanup.ts';

export const STRACE = '/usr/bin/strace';

export interface Diagnosis {
  target: string;
  mode: Mode;
  clients: number;
  tps: number;
  perStatement: ProcessStats;
  /** System calls per statement (strace -c -f), when strace is available; else null. */
  syscalls: Record<string, number> | null;
}

async function straceCount<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; counts: Record<string, number> }> {
  const out = join(tmpdir(), `vectorgate-bench-strace-${process.pid}-${pid}.txt`);
  const child = spawn(STRACE, ['-c', '-f', '-p', String(pid), '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const stop = onCleanup('strace', async () => { child.kill('SIGINT'); await exited; });
  await new Promise((r) => setTimeout(r, 500)); // attached
  try {
    const result = await work();
    await stop();
    if (!existsSync(out)) throw new Error(`strace wrote nothing: ${err}`);
    const counts: Record<string, number> = {};
    for (const line of readFileSync(out, 'utf8').split('\n')) {
      // % time  seconds  usecs/call  calls  [errors]  syscall
      const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
      if (m && m[2] !== 'total') counts[m[2]!] = Number(m[1]);
    }
    return { result, counts };
  } finally {
    await stop();
    rmSync(out, { force: true });
  }
}

export async function diagnose(options: {
  endpoints: Endpoint[];
  credentials: Omit<Connection, 'host' | 'port'>;
  modes: Mode[];
  clients: number;
  threads: number;
  seconds: number;
  strace: boolean;
}): Promise<Diagnosis[]> {
  const out: Diagnosis[] = [];
  for (const mode of options.modes) {
    for (const endpoint of options.endpoints) {
      if (endpoint.pid === null) continue;
      const conn = { ...options.credentials, host: endpoint.host, port: endpoint.port };
      const run = { mode, clients: options.clients, threads: options.threads, seconds: options.seconds };
      await selectOnly(conn, { ...run, seconds: 2 }); // warm-up (JIT, pools)
      const before = processStats(endpoint.pid);
      const r = await selectOnly(conn, run);
      const perStatement = statsPer(before, processStats(endpoint.pid), r.transactions);
      let syscalls: Record<string, number> | null = null;
      if (options.strace && existsSync(STRACE)) {
        const traced = await straceCount(endpoint.pid, () => selectOnly(conn, { ...run, seconds: Math.min(options.seconds, 5) }));
        syscalls = Object.fromEntries(Object.entries(traced.counts)
          .map(([name, n]) => [name, n / traced.result.transactions] as const)
          .filter(([, n]) => n >= 0.01)
          .sort((a, b) => b[1] - a[1]));
      }
      out.push({ target: endpoint.name, mode, clients: options.clients, tps: r.tps, perStatement, syscalls });
    }
  }
  return out;
}

export function formatDiagnoses(ds: Diagnosis[]): string {
  const lines = ['per statement, 8 clients:          user µs   sys µs   vol.cs  invol.cs   syscalls (strace -c, per statement)'];
  for (const d of ds) {
    const p = d.perStatement;
    const sc = d.syscalls ? Object.entries(d.syscalls).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ') : '—';
    lines.push(`${`${d.mode.padEnd(8)} ${d.target.padEnd(11)} ${d.tps.toFixed(0).padStart(6)} tps`.padEnd(33)} ` +
      `${p.userUs.toFixed(1).padStart(8)} ${p.sysUs.toFixed(1).padStart(8)} ${p.voluntary.toFixed(2).padStart(8)} ${p.involuntary.toFixed(2).padStart(9)}   ${sc}`);
  }
  return lines.join('\n');
}

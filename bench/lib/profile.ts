// Profiling the proxy under load: a separate vectorgate child with --cpu-prof per protocol mode,
// its CPU time (utime+stime from /proc) per statement, and the profile's top functions.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startVectorgate, cpuMicros } from './processes.ts';
import { selectOnly, type Connection, type Mode } from './pgbench.ts';
import { formatSummary, loadProfile, summarize, type ProfileSummary } from '../profile-summary.ts';

export interface ProfileResult {
  mode: Mode;
  clients: number;
  tps: number;
  transactions: number;
  /** Whole proxy process (all threads) CPU µs per statement, from /proc/<pid>/stat. */
  cpuUsPerStatement: number;
  /** CPU time over wall time of the run: 1.0 = one core saturated. */
  cpuCores: number;
  profileFile: string;
  summary: ProfileSummary;
  text: string;
}

export async function profileProxy(options: {
  upstreamPort: number;
  conn: Omit<Connection, 'port' | 'host'>;
  modes: Mode[];
  clients: number;
  threads: number;
  seconds: number;
  dir: string;
  top: number;
}): Promise<ProfileResult[]> {
  mkdirSync(options.dir, { recursive: true });
  const results: ProfileResult[] = [];
  for (const mode of options.modes) {
    // Node writes one profile per thread (tsx's module-loader hooks run on a worker thread): keep
    // them apart per mode and pick the main thread's (the busiest) afterwards.
    const dir = join(options.dir, `${mode}-${options.clients}c`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const proxy = await startVectorgate({
      upstreamPort: options.upstreamPort,
      name: `vectorgate (profiled, ${mode})`,
      nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    });
    const conn = { ...options.conn, host: proxy.host, port: proxy.port };
    // Warm up the JIT before the measured run (the profile covers both, the CPU figure only the run).
    const warm = await selectOnly(conn, { mode, clients: options.clients, threads: options.threads, seconds: 2 });
    const cpu0 = cpuMicros(proxy.pid!);
    const t0 = performance.now();
    const run = await selectOnly(conn, { mode, clients: options.clients, threads: options.threads, seconds: options.seconds });
    const wallUs = (performance.now() - t0) * 1000;
    const cpuUs = cpuMicros(proxy.pid!) - cpu0;
    await proxy.stop(); // SIGINT: the proxy exits cleanly and node writes the profile
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
    if (files.length === 0) throw new Error(`no profile written to ${dir}`);
    const [file, summary] = files.map((f) => [f, summarize(loadProfile(f))] as const)
      .sort((a, b) => b[1].busyUs - a[1].busyUs)[0]!;
    results.push({
      mode, clients: options.clients, tps: run.tps, transactions: run.transactions,
      cpuUsPerStatement: cpuUs / run.transactions,
      cpuCores: cpuUs / wallUs,
      profileFile: file,
      summary,
      // The profile spans warm-up + run: per-statement figures use the transactions of both.
      text: formatSummary(summary, options.top, warm.transactions + run.transactions),
    });
  }
  return results;
}

// Running pgbench and reading its summary.
import { spawn } from 'node:child_process';
import { PGBENCH } from './processes.ts';
import { onCleanup } from './cleanup.ts';

export type Mode = 'simple' | 'extended' | 'prepared';

export interface Connection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export interface PgbenchResult {
  tps: number;
  latencyMs: number;
  transactions: number;
  failed: number;
}

function run(args: string[], conn: Connection): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(PGBENCH, [
      '-h', conn.host, '-p', String(conn.port), '-U', conn.user, ...args, conn.database,
    ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PGPASSWORD: conn.password, PGSSLMODE: 'disable' } });
    const stopOnExit = onCleanup('pgbench', () => { child.kill('SIGINT'); });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
    child.once('error', (err) => { void stopOnExit(); reject(err); });
    child.once('exit', (code, signal) => {
      void stopOnExit();
      if (code === 0) resolveRun(out);
      else reject(new Error(`pgbench ${args.join(' ')} on port ${conn.port} failed (${signal ?? code}):\n${out.slice(-4000)}`));
    });
  });
}

/** `pgbench -i -s scale`: the pgbench_* tables. */
export async function initialize(conn: Connection, scale: number): Promise<void> {
  await run(['-i', '-s', String(scale), '-q'], conn);
}

export interface SelectOnlyRun {
  mode: Mode;
  clients: number;
  threads: number;
  seconds: number;
}

/** `pgbench -S` (one SELECT by primary key per transaction, i.e. one round trip). */
export async function selectOnly(conn: Connection, r: SelectOnlyRun): Promise<PgbenchResult> {
  const out = await run(['-S', '-n', '-M', r.mode, '-c', String(r.clients), '-j', String(r.threads), '-T', String(r.seconds)], conn);
  return parseSummary(out);
}

export function parseSummary(out: string): PgbenchResult {
  const number = (re: RegExp, what: string): number => {
    const m = re.exec(out);
    if (!m) throw new Error(`pgbench output has no ${what}:\n${out.slice(-2000)}`);
    return Number(m[1]);
  };
  const failed = /number of failed transactions: (\d+)/.exec(out);
  return {
    tps: number(/^tps = ([\d.]+)/m, 'tps'),
    latencyMs: number(/^latency average = ([\d.]+) ms/m, 'latency average'),
    transactions: number(/^number of transactions actually processed: (\d+)/m, 'transaction count'),
    failed: failed ? Number(failed[1]) : 0,
  };
}

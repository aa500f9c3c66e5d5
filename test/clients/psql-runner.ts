// Runs /usr/bin/psql against the test target the way a user would: no psqlrc, stop on error,
// unaligned tuples-only output, the password in PGPASSWORD.
import { runProcess, cleanEnv, type ProcessResult } from '../helpers/run-process.ts';
import { DATABASE } from '../helpers/cluster.ts';
import type { ClientTarget } from '../helpers/client-target.ts';

export const PSQL = '/usr/bin/psql';

export interface PsqlLogin {
  user: string;
  password: string;
  /** More conninfo keywords, e.g. `application_name=x` or `options='-c statement_timeout=5'`. */
  conninfo?: string;
}

export interface PsqlRun {
  /** psql flags before the connection string; defaults to stop on error, tuples only, unaligned. */
  flags?: string[];
  /** Each becomes one -c. */
  commands?: string[];
  /** A script on standard input (used when there are no commands). */
  script?: string;
}

export function conninfo(target: ClientTarget, login: PsqlLogin): string {
  // A bounded connect timeout keeps a broken proxy from hanging the test run.
  return `host=${target.host} port=${target.port} user=${login.user} dbname=${DATABASE} connect_timeout=20 ${login.conninfo ?? ''}`.trim();
}

export function psql(target: ClientTarget, login: PsqlLogin, run: PsqlRun): Promise<ProcessResult> {
  const flags = run.flags ?? ['-X', '-v', 'ON_ERROR_STOP=1', '-At'];
  const commands = (run.commands ?? []).flatMap((command) => ['-c', command]);
  return runProcess(PSQL, [...flags, ...commands, '-d', conninfo(target, login)], {
    env: cleanEnv({ PGPASSWORD: login.password }),
    input: run.script ?? '',
  });
}

/** Output lines of a successful run. */
export function lines(result: ProcessResult): string[] {
  if (result.code !== 0) throw new Error(`psql exited with ${result.code}: ${result.stderr}`);
  return result.stdout === '' ? [] : result.stdout.replace(/\n$/, '').split('\n');
}

// The sampled per-statement debug line, one in logSampleEvery statements when --log-level is debug:
//   {"level":20,"msg":"statement","route":"upstream","kind":"SELECT","durationMs":0.4,"rows":3}
// route: upstream (passed through), local (answered by the proxy) or composed (vector calls here, the
// rest by PostgreSQL, whose rows go to the client unseen: rows null). kind: the statement's first
// keyword for a simple Query; EXECUTE for a portal of the extended protocol. Off, it costs one null
// test per statement (Dispatcher.sampleStatement).
import { statementSampler, type Logger } from '../log.ts';
import type { Expectation } from './response-queue.ts';

export type StatementRoute = 'upstream' | 'local' | 'composed';

export interface StatementLine {
  route: StatementRoute;
  kind: string;
  startedMs: number;
  rows: number | null;
  failed: boolean;
}

export function logStatement(log: Logger, line: StatementLine): void {
  const durationMs = Number((performance.now() - line.startedMs).toFixed(3));
  log.debug({ route: line.route, kind: line.kind, durationMs, rows: line.rows, failed: line.failed }, 'statement');
}

/** For paths that do not keep the sampler: true for the one statement in `every` that is logged. */
export function isSampled(log: Logger, every: number): boolean {
  const sample = statementSampler(log, every);
  return sample !== null && sample();
}

const MAX_KEYWORD = 24;

/** The first keyword of a Query message's SQL, read from its bytes (only for sampled statements). */
export function queryKind(raw: Buffer): string {
  let i = 5;
  while (i < raw.length && (raw[i] === 0x20 || (raw[i]! >= 0x09 && raw[i]! <= 0x0d) || raw[i] === 0x28)) i++;
  let end = i;
  while (end < raw.length && end - i < MAX_KEYWORD && isLetter(raw[end]!)) end++;
  return end > i ? raw.toString('latin1', i, end).toUpperCase() : 'OTHER';
}

/** The first keyword of a statement's text. */
export function sqlKind(sql: string): string {
  const match = /^[\s(]*([A-Za-z_]{1,24})/.exec(sql);
  return match === null ? 'OTHER' : match[1]!.toUpperCase();
}

function isLetter(byte: number): boolean {
  return (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte === 0x5f;
}

/** Logs a passed-through statement when its answer ends, with the DataRows counted on the way. */
export function logWhenDone(log: Logger, entry: Expectation, kind: string): void {
  const startedMs = performance.now();
  const earlier = entry.onDone;
  entry.rows = 0;
  entry.onDone = (done) => {
    earlier?.(done);
    logStatement(log, { route: 'upstream', kind, startedMs, rows: done.rows, failed: done.sawError });
  };
}

// Structured JSON logs (pino). Per-statement debug lines are sampled: one statement in logSampleEvery
// is logged (src/wire/statement-log.ts), and none is even timed unless the level is debug or trace.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'vectorgate' } });
}

export function sampler(every: number): () => boolean {
  let n = 0;
  return () => (n = (n + 1) % every) === 0;
}

/** One sampler per logger, so that one in N statements of the whole proxy is logged, whatever the session. */
const statementSamplers = new WeakMap<Logger, () => boolean>();

/** null when debug lines are off (nothing to do per statement); else true for one call in `every`. */
export function statementSampler(log: Logger, every: number): (() => boolean) | null {
  if (!log.isLevelEnabled('debug')) return null;
  let sample = statementSamplers.get(log);
  if (sample === undefined) statementSamplers.set(log, (sample = sampler(every)));
  return sample;
}

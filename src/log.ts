// Structured JSON logs (pino). Hot paths log through `sampled`, which writes one line in N.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'vectorgate' } });
}

export function sampler(every: number): () => boolean {
  let n = 0;
  return () => (n = (n + 1) % every) === 0;
}

// Closed-loop load for the tenants benchmark: each connection sends its next statement when the answer
// to the last one came, until the deadline. Accepted statements are timed; refusals over a quota
// (53400, configuration_limit_exceeded) are counted apart from other errors.
import type pg from 'pg';

export const QUOTA_EXCEEDED = '53400';

export interface Statement { name: string; text: string; values: unknown[] }

export interface LoadStats {
  accepted: number;
  rejected: number;
  failed: number;
  /** The first error that was not a quota refusal, to show when something else went wrong. */
  firstFailure: string | null;
  latenciesMs: number[];
  seconds: number;
}

export function emptyStats(): LoadStats {
  return { accepted: 0, rejected: 0, failed: 0, firstFailure: null, latenciesMs: [], seconds: 0 };
}

/** Runs `next(connection, n)` on every client in a closed loop for `seconds`. */
export async function closedLoop(clients: pg.Client[], seconds: number, next: (connection: number, n: number) => Statement): Promise<LoadStats> {
  const stats = emptyStats();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(clients.map(async (client, connection) => {
    for (let n = 0; performance.now() < deadline; n++) {
      const statement = next(connection, n);
      const t = performance.now();
      try {
        await client.query({ ...statement, rowMode: 'array' });
        stats.accepted++;
        stats.latenciesMs.push(performance.now() - t);
      } catch (err) {
        const e = err as Error & { code?: string };
        if (e.code === QUOTA_EXCEEDED) {
          stats.rejected++;
        } else {
          stats.failed++;
          stats.firstFailure ??= `${e.code ?? ''} ${e.message}`.trim();
          // A client that is not a quota refusal may be broken: stop this connection's loop.
          if (e.code === undefined) return;
        }
      }
    }
  }));
  stats.seconds = (performance.now() - started) / 1000;
  return stats;
}

/**
 * Open loop: the pool sends `ratePerSecond` statements a second, spread over its connections on a fixed
 * schedule, whatever the answers take. Latency counts from the scheduled time, so a statement that
 * waited for its connection (the answer before it was late) counts that wait too (no coordinated omission).
 */
export async function pacedLoop(clients: pg.Client[], seconds: number, ratePerSecond: number, next: (connection: number, n: number) => Statement): Promise<LoadStats> {
  const stats = emptyStats();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const intervalMs = (1000 * clients.length) / ratePerSecond;
  await Promise.all(clients.map(async (client, connection) => {
    for (let n = 0; ; n++) {
      const scheduled = started + (connection / clients.length + n) * intervalMs;
      if (scheduled >= deadline) return;
      const waitMs = scheduled - performance.now();
      if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
      try {
        await client.query({ ...next(connection, n), rowMode: 'array' });
        stats.accepted++;
        stats.latenciesMs.push(performance.now() - scheduled);
      } catch (err) {
        const e = err as Error & { code?: string };
        if (e.code === QUOTA_EXCEEDED) stats.rejected++;
        else {
          stats.failed++;
          stats.firstFailure ??= `${e.code ?? ''} ${e.message}`.trim();
          if (e.code === undefined) return;
        }
      }
    }
  }));
  stats.seconds = (performance.now() - started) / 1000;
  return stats;
}

/** Nearest-rank percentile (q in 0..1) of the latencies. */
export function percentileMs(latenciesMs: readonly number[], q: number): number {
  if (latenciesMs.length === 0) return NaN;
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function qps(stats: LoadStats): number {
  return stats.accepted / stats.seconds;
}

export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

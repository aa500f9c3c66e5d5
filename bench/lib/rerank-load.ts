// The load of bench:rerank: a Zipf-distributed mix over the dataset's queries (a few recur often,
// most rarely, as real search traffic does), run closed-loop over C connections for a fixed time;
// each connection takes the next query of one shared seeded sequence. Latency is per statement.
import type pg from 'pg';
import { seeded } from '../../test/helpers/random.ts';

/** Query indices 0…count−1 drawn with P(rank r) ∝ 1 / r^s, ranks assigned to queries in a seeded random order. */
export function zipfSequence(count: number, length: number, s: number, seed: number): number[] {
  const random = seeded(seed);
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const cumulative = new Float64Array(count);
  let total = 0;
  for (let r = 0; r < count; r++) cumulative[r] = total += 1 / (r + 1) ** s;
  return Array.from({ length }, () => {
    const x = random() * total;
    let lo = 0;
    let hi = count - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return order[lo]!;
  });
}

export interface LoadResult { statements: number; qps: number; p50Ms: number; p99Ms: number; maxMs: number }

/** Runs statement(q) closed-loop on every client for seconds; the sequence wraps around. */
export async function closedLoop(clients: pg.Client[], sequence: number[], seconds: number, statement: (q: number) => { text: string; values: unknown[] }): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  const endAt = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(clients.map(async (client) => {
    while (performance.now() < endAt) {
      const q = sequence[next++ % sequence.length]!;
      const t0 = performance.now();
      await client.query(statement(q));
      latencies.push(performance.now() - t0);
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return { statements: latencies.length, qps: latencies.length / elapsed, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: latencies.at(-1) ?? 0 };
}

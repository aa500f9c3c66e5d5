// --profile: the queried proxy runs under node --cpu-prof (one .cpuprofile per thread: the main thread
// and each shard worker); after it stops, each busy thread's top functions are printed.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { formatSummary, loadProfile, summarize } from '../profile-summary.ts';

export function profileDir(resultsDir: string, date: Date): string {
  const dir = join(resultsDir, 'profiles', date.toISOString().slice(0, 10), 'search');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Threads that were busy for at least 5% of the busiest one, busiest first. */
export function profileReport(dir: string, queries: number, top = 15): string {
  const profiles = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => ({ file: join(dir, f), summary: summarize(loadProfile(join(dir, f))) }))
    .sort((a, b) => b.summary.busyUs - a.summary.busyUs);
  if (profiles.length === 0) return `no profiles written to ${dir}`;
  const busiest = profiles[0]!.summary.busyUs;
  return profiles.filter((p) => p.summary.busyUs >= busiest * 0.05)
    .map((p) => `== ${p.file}\n${formatSummary(p.summary, top, queries)}`).join('\n\n');
}

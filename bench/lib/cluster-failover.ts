// Item 4 of the cluster benchmark: failover time. A collection with 2 replicas of its one shard on a
// 3-worker cluster; one connection searches in a tight loop while a worker holding a serving replica is
// SIGKILLed. Failover time = from the kill to the end of the first search *sent after the kill* that
// succeeded (the surviving replica answered); also from the kill to the first answer of any search (one
// in flight at the kill that the proxy sent on to the other replica), the longest search, and errors.
// Between repetitions the killed worker is restarted once its lease has expired, and the next round
// waits until both replicas serve again.
import type pg from 'pg';
import type { Base, BenchCluster } from './cluster-env.ts';
import { connect } from './cluster-env.ts';
import { copyRows, createCollection, waitCaughtUp } from './cluster-load.ts';
import { row, type Dataset } from './search-data.ts';
import { vectorText } from './search-sql.ts';

export interface FailoverRun {
  killed: string;
  /** Kill → end of the first successful search sent after the kill. */
  failoverMs: number;
  /** Kill → end of the first successful search of any (one in flight at the kill, failed over, counts). */
  firstAnswerMs: number;
  longestSearchMs: number;
  errors: number;
  searches: number;
}

const COLLECTION = 'failover';

export async function measureFailover(base: Base, bc: BenchCluster, data: Dataset, repetitions: number, leaseTtlSeconds: number, log: (line: string) => void): Promise<FailoverRun[]> {
  const client = await connect(bc.cluster.proxies[0]!.port);
  try {
    await createCollection(client, COLLECTION, data, { shards: 1, replicas: 2, m: 16, efConstruction: 64 });
    await copyRows(client, COLLECTION, data, Math.min(2000, data.baseRows), '');
    const runs: FailoverRun[] = [];
    for (let rep = 0; rep < repetitions; rep++) {
      const reports = (await waitCaughtUp(base, bc.prefix, 2)).filter((r) => r.serving);
      const victimId = reports[rep % reports.length]!.worker;
      const victim = await workerHandle(base, bc, victimId);
      const run = await killDuringLoop(client, data, () => bc.cluster.workers[victim]!.kill('SIGKILL'), (leaseTtlSeconds + 2) * 1000);
      runs.push({ killed: victimId, ...run });
      log(`  repetition ${rep + 1}: killed worker ${victim} (${victimId}); first answer ${run.firstAnswerMs.toFixed(0)} ms, first search sent after it answered ${run.failoverMs.toFixed(0)} ms after the kill; longest search ${run.longestSearchMs.toFixed(0)} ms; ${run.errors} errors of ${run.searches}`);
      await bc.cluster.workers[victim]!.start();
    }
    return runs;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The LocalCluster index of the worker registered as `id` (workers/<id> names its address). */
async function workerHandle(base: Base, bc: BenchCluster, id: string): Promise<number> {
  const value = await base.etcdConn.client.get(`${bc.prefix}workers/${id}`).json() as { address?: string } | null;
  const i = bc.cluster.workers.findIndex((w) => w.address === value?.address);
  if (i < 0) throw new Error(`no worker process listens at ${String(value?.address)} (worker ${id})`);
  return i;
}

async function killDuringLoop(client: pg.Client, data: Dataset, kill: () => Promise<void>, windowMs: number): Promise<Omit<FailoverRun, 'killed'>> {
  const query = (i: number) => vectorText(row(data.queries, data.dims, i % data.queryRows));
  let stop = false;
  let killedAt = Infinity;
  let firstAfter = Infinity;
  let firstAny = Infinity;
  let longest = 0;
  let errors = 0;
  let searches = 0;
  const loop = (async () => {
    for (let i = 0; !stop; i++) {
      const sent = performance.now();
      try {
        await client.query({ name: 'failover', text: `SELECT id FROM vector_search('${COLLECTION}', $1, 10)`, values: [query(i)] });
        const done = performance.now();
        if (sent >= killedAt && firstAfter === Infinity) firstAfter = done;
        if (done >= killedAt && firstAny === Infinity) firstAny = done;
      } catch {
        errors++;
      }
      searches++;
      if (killedAt !== Infinity) longest = Math.max(longest, performance.now() - sent);
    }
  })();
  await new Promise((r) => setTimeout(r, 500));
  const killing = kill();
  killedAt = performance.now();
  await killing;
  await new Promise((r) => setTimeout(r, windowMs));
  stop = true;
  await loop;
  return { failoverMs: firstAfter - killedAt, firstAnswerMs: firstAny - killedAt, longestSearchMs: longest, errors, searches };
}

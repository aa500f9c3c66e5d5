// Item 2 of the cluster benchmark: search QPS and recall@10 through clusters of 1, 2 and 3 workers
// (one proxy each; one shard with a replica on every worker, so reads spread over all of them) and
// through the embedded default (`vectorgate proxy` with a data directory), on the same rows and
// queries. All deployments are loaded first, then measured in alternating rounds, so that a drift of
// the shared machine's load falls on all alike; the median round counts.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { Base } from './cluster-env.ts';
import { CREDENTIALS, connect, cpuMs, pin, startBenchCluster } from './cluster-env.ts';
import { copyRows, createCollection, createEmbedded, waitCaughtUp } from './cluster-load.ts';
import { startProxy } from './search-proxy.ts';
import { row, type Dataset } from './search-data.ts';
import { runQueries, searchCacheOff, vectorText } from './search-sql.ts';


export interface SearchTarget {
  name: string;
  /** Its collection (a name of its own: every deployment makes a relation vectorgate.<name> in the one PostgreSQL). */
  collection: string;
  workers: number;
  port: number;
  /** The vectorgate processes serving it (proxy, workers). */
  pids: () => (number | undefined)[];
}

export interface SearchPoint { target: string; connections: number; qps: number[]; recall: number; meanMs: number; cpuUsPerQuery: number }

const SHAPE = { shards: 1, m: 16, efConstruction: 100 };

export async function startSearchTargets(base: Base, data: Dataset, workerCounts: number[], env: Record<string, string>, pinCpus: string | null, log: (line: string) => void): Promise<SearchTarget[]> {
  const targets: SearchTarget[] = [];
  log('  embedded: vectorgate proxy --data-dir (no --etcd)');
  const dataDir = join(base.dir, 'embedded');
  mkdirSync(dataDir, { recursive: true });
  const embedded = await startProxy({ upstreamPort: base.pg.port, dataDir, credentials: CREDENTIALS, probe: 'SELECT 1', env: { ...process.env, ...env } });
  targets.push({ name: 'embedded', collection: 'search_embedded', workers: 0, port: embedded.port, pids: () => [embedded.pid] });
  await load(embedded.port, data, 'search_embedded', (c) => createEmbedded(c, 'search_embedded', data, { ...SHAPE, replicas: 1 }));
  for (const workers of workerCounts) {
    log(`  cluster with ${workers} worker(s), 1 proxy: loading ${data.baseRows} rows, replicas ${workers}`);
    const bc = await startBenchCluster(base, workers, 1, env);
    const port = bc.cluster.proxies[0]!.port;
    const collection = `search_w${workers}`;
    await load(port, data, collection, (c) => createCollection(c, collection, data, { ...SHAPE, replicas: workers }));
    const started = performance.now();
    await waitCaughtUp(base, bc.prefix, workers * SHAPE.shards);
    log(`    every replica serving ${((performance.now() - started) / 1000).toFixed(1)} s after the COPY`);
    targets.push({ name: `cluster, ${workers} worker${workers > 1 ? 's' : ''}`, collection, workers, port, pids: () => [bc.cluster.proxies[0]!.pid, ...bc.cluster.workers.map((w) => w.pid)] });
  }
  if (pinCpus !== null) for (const t of targets) for (const pid of t.pids()) if (pid !== undefined) pin(pid, pinCpus);
  return targets;
}

async function load(port: number, data: Dataset, collection: string, create: (c: pg.Client) => Promise<void>): Promise<void> {
  const client = await connect(port);
  try {
    await create(client);
    await copyRows(client, collection, data, data.baseRows, '');
  } finally {
    await client.end();
  }
}

export async function measureSearch(targets: SearchTarget[], data: Dataset, connectionCounts: number[], rounds: number, ef: number, log: (line: string) => void): Promise<SearchPoint[]> {
  const params = Array.from({ length: data.queryRows }, (_, q) => vectorText(row(data.queries, data.dims, q)));
  const points = new Map<string, SearchPoint>();
  for (let r = 0; r < rounds; r++) {
    // Alternate the order every round: whoever goes first does not always meet the same minute.
    const order = r % 2 === 0 ? targets : [...targets].reverse();
    for (const target of order) {
      for (const connections of connectionCounts) {
        const clients = await Promise.all(Array.from({ length: connections }, () => connect(target.port)));
        await searchCacheOff(clients);
        try {
          let cpu0 = 0;
          const m = await runQueries({
            target: target.name, clients, ef, k: 10, warmup: 50,
            statement: 'SELECT id FROM vector_search($1, $2, 10, ef => $3)',
            params: (q) => [target.collection, params[q], ef],
            onStart: () => { cpu0 = target.pids().reduce<number>((s, p) => s + cpuMs(p), 0); },
          }, data);
          const cpuUs = ((target.pids().reduce<number>((s, p) => s + cpuMs(p), 0) - cpu0) * 1000) / data.queryRows;
          const key = `${target.name}|${connections}`;
          const point = points.get(key) ?? { target: target.name, connections, qps: [], recall: m.recall, meanMs: 0, cpuUsPerQuery: 0 };
          point.qps.push(m.qps);
          point.meanMs += m.meanMs / rounds;
          point.cpuUsPerQuery += cpuUs / rounds;
          points.set(key, point);
          log(`  round ${r + 1}, ${target.name}, ${connections} connection(s): ${m.qps.toFixed(0)} QPS, recall@10 ${m.recall.toFixed(3)}`);
        } finally {
          await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
        }
      }
    }
  }
  return [...points.values()];
}

export const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };

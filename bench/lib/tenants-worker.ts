// The worker thread of bench/lib/tenants-clients.ts: pools of node-postgres connections, and closed
// loops of searches or write batches over them on request.
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { closedLoop, pacedLoop, type Statement } from './tenants-load.ts';
import type { ClientData, Job, Reply, Request } from './tenants-clients.ts';

const data = workerData as ClientData;
const pools = new Map<string, pg.Client[]>();

function statements(kind: Job['statement']): (connection: number, n: number) => Statement {
  if (kind.kind === 'search') {
    const text = `SELECT id FROM vector_search($1, $2, ${data.k})`;
    return (connection, n) => ({ name: kind.name, text, values: [data.collection, data.queries[(kind.offset + connection * 7919 + n) % data.queries.length]] });
  }
  return (connection, n) => ({
    name: kind.name, text: 'SELECT vector_upsert($1, $2::jsonb)', values: [data.collection, data.batches[(connection * 13 + n) % data.batches.length]],
  });
}

async function handle(request: Request): Promise<Omit<Reply, 'id'>> {
  switch (request.op) {
    case 'connect': {
      const clients = Array.from({ length: request.count }, () => new pg.Client({ host: '127.0.0.1', port: request.port, ...request.login }));
      pools.set(request.pool, clients);
      await Promise.all(clients.map((c) => c.connect()));
      return {};
    }
    case 'run':
      return {
        stats: await Promise.all(request.jobs.map((job) => (job.ratePerSecond === undefined
          ? closedLoop(pools.get(job.pool)!, job.seconds, statements(job.statement))
          : pacedLoop(pools.get(job.pool)!, job.seconds, job.ratePerSecond, statements(job.statement))))),
      };
    case 'close':
      await Promise.all([...pools.values()].flat().map((c) => c.end().catch(() => undefined)));
      pools.clear();
      return {};
  }
}

parentPort!.on('message', (request: Request) => {
  handle(request).then(
    (reply) => parentPort!.postMessage({ ...reply, id: request.id }),
    (err: unknown) => parentPort!.postMessage({ id: request.id, error: err instanceof Error ? err.message : String(err) }),
  );
});

// A shard worker thread: hosts the replicas the router placed here, answers requests one message at a
// time (searches are synchronous, so a worker's CPU time is the limit, never the proxy's event loop),
// and checks each replica's snapshot cadence on a timer.
import { parentPort, workerData } from 'node:worker_threads';
import type { Op } from '../storage/record-codec.ts';
import { ShardReplica } from './shard-replica.ts';
import { toWire, type Request, type Response, type WorkerData } from './worker-protocol.ts';

const { config } = workerData as WorkerData;
const replicas = new Map<string, ShardReplica>();
const port = parentPort!;

function replica(shard: string): ShardReplica {
  const r = replicas.get(shard);
  if (r === undefined) throw new Error(`shard ${shard} is not open in this worker`);
  return r;
}

function opsOf(req: Extract<Request, { type: 'write' | 'prepare' }>): Op[] {
  const ops: Op[] = [];
  if (req.upsert !== undefined) {
    const { ids, vectors, payloads } = req.upsert;
    const dims = ids.length === 0 ? 0 : vectors.length / ids.length;
    ids.forEach((id, i) => ops.push({ op: 'upsert', id, vector: vectors.subarray(i * dims, (i + 1) * dims), payload: payloads[i] ?? null }));
  }
  for (const id of req.delete ?? []) ops.push({ op: 'delete', id });
  return ops;
}

async function handle(req: Request): Promise<unknown> {
  switch (req.type) {
    case 'open':
      if (replicas.has(req.shard)) throw new Error(`shard ${req.shard} is already open`);
      replicas.set(req.shard, await ShardReplica.open(req.dir, req.spec, config, new Set(req.committed)));
      return null;
    case 'close': {
      const r = replicas.get(req.shard);
      replicas.delete(req.shard);
      await r?.close();
      return null;
    }
    case 'write': return replica(req.shard).write(opsOf(req));
    case 'prepare': return replica(req.shard).prepare(req.txid, opsOf(req));
    case 'decide': return replica(req.shard).decide(req.txid, req.commit);
    case 'retained': return replica(req.shard).oldestRetainedTxid();
    case 'search': return replica(req.shard).search(req.query, req.k, req.options);
    case 'explain': return replica(req.shard).explain(req.query, req.k, req.options);
    case 'get': return replica(req.shard).get(req.id);
    case 'stats': return replica(req.shard).stats();
    case 'snapshot': await replica(req.shard).snapshot(); return null;
  }
}

port.on('message', (message: { rid: number; req: Request }) => {
  handle(message.req).then(
    (value) => port.postMessage({ rid: message.rid, ok: true, value } satisfies Response),
    (err: unknown) => port.postMessage({ rid: message.rid, ok: false, error: toWire(err) } satisfies Response),
  );
});

let checking = false;
setInterval(() => {
  if (checking) return;
  checking = true;
  void (async () => {
    for (const r of [...replicas.values()]) {
      try { await r.maybeSnapshot(); } catch (err) { process.emitWarning(`snapshot of ${r.dir} failed: ${String(err)}`); }
    }
  })().finally(() => { checking = false; });
}, config.snapshotCheckIntervalMs).unref();

// A worker-protocol handler over real ShardReplicas (local Wal) for the gRPC tests: what the worker
// process's replica host does, reduced to the requests these tests send.
import type { Config } from '../../src/config.ts';
import { ShardReplica } from '../../src/router/shard-replica.ts';
import type { Request } from '../../src/router/worker-protocol.ts';
import type { Op } from '../../src/storage/record-codec.ts';
import { listSnapshots, type SnapshotRef } from '../../src/storage/snapshot.ts';

export class ReplicaHandler {
  readonly replicas = new Map<string, ShardReplica>();
  readonly #config: Config;

  constructor(config: Config) { this.#config = config; }

  #replica(shard: string): ShardReplica {
    const replica = this.replicas.get(shard);
    if (replica === undefined) throw new Error(`shard ${shard} is not open in this worker`);
    return replica;
  }

  readonly handle = async (req: Request): Promise<unknown> => {
    switch (req.type) {
      case 'open': this.replicas.set(req.shard, await ShardReplica.open(req.dir, req.spec, this.#config, new Set(req.committed))); return null;
      case 'close': await this.replicas.get(req.shard)?.close(); this.replicas.delete(req.shard); return null;
      case 'write': return this.#replica(req.shard).write(opsOf(req));
      case 'prepare': return this.#replica(req.shard).prepare(req.txid, opsOf(req));
      case 'decide': return this.#replica(req.shard).decide(req.txid, req.commit);
      case 'retained': return this.#replica(req.shard).oldestRetainedTxid();
      case 'search': return this.#replica(req.shard).search(req.query, req.k, req.options);
      case 'explain': return this.#replica(req.shard).explain(req.query, req.k, req.options);
      case 'get': return this.#replica(req.shard).get(req.id);
      case 'stats': return this.#replica(req.shard).stats();
      case 'snapshot': await this.#replica(req.shard).snapshot(); return null;
    }
  };

  readonly snapshotSource = async (shard: string): Promise<SnapshotRef | null> => listSnapshots(this.#replica(shard).dir)[0] ?? null;

  async close(): Promise<void> {
    for (const replica of this.replicas.values()) await replica.close();
    this.replicas.clear();
  }
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

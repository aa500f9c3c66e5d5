// The worker protocol over real ShardReplicas (local Wal) for the gRPC tests: the ReplicaHost a worker
// process runs, with the snapshot source the worker server streams from.
import type { Config } from '../../src/config.ts';
import { openLocalLog } from '../../src/router/local-log.ts';
import { ReplicaHost } from '../../src/router/replica-host.ts';
import type { ShardReplica } from '../../src/router/shard-replica.ts';
import type { Request } from '../../src/router/worker-protocol.ts';
import { listSnapshots, type SnapshotRef } from '../../src/storage/snapshot.ts';

export class ReplicaHandler {
  readonly #host: ReplicaHost;

  constructor(config: Config) { this.#host = new ReplicaHost(config, (dir) => openLocalLog(dir, config)); }

  readonly handle = (req: Request): Promise<unknown> => this.#host.handle(req);

  /** The replica of an open shard (tests compare answers with it). */
  replica(shard: string): ShardReplica {
    const replica = this.#host.replica(shard);
    if (replica === undefined) throw new Error(`shard ${shard} is not open`);
    return replica;
  }

  readonly snapshotSource = async (shard: string): Promise<SnapshotRef | null> => listSnapshots(this.replica(shard).dir)[0] ?? null;

  close(): Promise<void> { return this.#host.close(); }
}

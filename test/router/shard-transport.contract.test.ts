// The ShardTransport contract against the embedded default's two hosts, worker_threads and the
// proxy's own thread: shards opened through the transport, rows written by write requests, everything
// the contract has (a thread can die on its own; the inline host cannot, and has no queue to bound).
import { InProcessTransport } from '../../src/router/inprocess-transport.ts';
import type { ShardTransport } from '../../src/router/shard-transport.ts';
import { ThreadTransport } from '../../src/router/thread-transport.ts';
import { shardTransportContract, type TransportUnderTest } from './shard-transport-contract.ts';

/** An embedded transport under test: shards opened by open(), rows written by write requests. */
function local(transport: ShardTransport, killHostOf: (shard: string) => Promise<void>): TransportUnderTest {
  return {
    transport,
    async createShard(name, dir, spec) {
      const key = `${name}/0`;
      await transport.open(key, dir, spec, []);
      return key;
    },
    write: (shard, upsert, deletes) => transport.call({ type: 'write', shard, upsert, ...(deletes === undefined ? {} : { delete: deletes }) }),
    killHostOf,
    stop: async () => {},
  };
}

shardTransportContract({
  name: 'worker_threads',
  capabilities: { writeRequests: true, opensShards: true, queueLimit: true, snapshotRequests: true, localLog: true, hostsDie: true, unknownShardCode: 'XX000' },
  async start(config) {
    const transport = new ThreadTransport(config);
    return local(transport, (shard) => transport.terminateThreadOf(shard));
  },
});

shardTransportContract({
  name: 'inline',
  capabilities: { writeRequests: true, opensShards: true, queueLimit: false, snapshotRequests: true, localLog: true, hostsDie: false, unknownShardCode: 'XX000' },
  async start(config) {
    return local(new InProcessTransport(config), () => Promise.reject(new Error('an inline host dies only with the proxy')));
  },
});

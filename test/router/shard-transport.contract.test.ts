// The ShardTransport contract against worker_threads (the embedded default): shards opened through
// the transport, rows written by write requests, everything the contract has.
import { ThreadTransport } from '../../src/router/thread-transport.ts';
import { shardTransportContract } from './shard-transport-contract.ts';

shardTransportContract({
  name: 'worker_threads',
  capabilities: { writeRequests: true, opensShards: true, queueLimit: true, snapshotRequests: true, localLog: true, unknownShardCode: 'XX000' },
  async start(config) {
    const transport = new ThreadTransport(config);
    return {
      transport,
      async createShard(name, dir, spec) {
        const key = `${name}/0`;
        await transport.open(key, dir, spec, []);
        return key;
      },
      write: (shard, upsert, deletes) => transport.call({ type: 'write', shard, upsert, ...(deletes === undefined ? {} : { delete: deletes }) }),
      killHostOf: (shard) => transport.terminateThreadOf(shard),
      stop: async () => {},
    };
  },
});

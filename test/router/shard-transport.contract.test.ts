// The ShardTransport contract against the embedded default's two hosts, the proxy's own thread and
// worker_threads: shards opened through the transport, rows written by write requests, everything the
// contract has (a thread can die on its own; the inline host cannot, and has no queue to bound).
import { InProcessTransport } from '../../src/router/inprocess-transport.ts';
import { ThreadTransport } from '../../src/router/thread-transport.ts';
import { shardTransportContract } from './shard-transport-contract.ts';

shardTransportContract({
  name: 'inline',
  capabilities: { writeRequests: true, opensShards: true, queueLimit: false, snapshotRequests: true, localLog: true, hostsDie: false, unknownShardCode: 'XX000' },
  async start(config) {
    const transport = new InProcessTransport(config);
    return {
      transport,
      async createShard(name, dir, spec) {
        const key = `${name}/0`;
        await transport.open(key, dir, spec, []);
        return key;
      },
      write: (shard, upsert, deletes) => transport.call({ type: 'write', shard, upsert, ...(deletes === undefined ? {} : { delete: deletes }) }),
      killHostOf: () => Promise.reject(new Error('an inline host dies only with the proxy')),
      stop: async () => {},
    };
  },
});

shardTransportContract({
  name: 'worker_threads',
  capabilities: { writeRequests: true, opensShards: true, queueLimit: true, snapshotRequests: true, localLog: true, hostsDie: true, unknownShardCode: 'XX000' },
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

// The ShardTransport contract against worker_threads (the embedded default).
import { ThreadTransport } from '../../src/router/thread-transport.ts';
import { shardTransportContract } from './shard-transport-contract.ts';

shardTransportContract({
  name: 'worker_threads',
  async start(config) {
    const transport = new ThreadTransport(config);
    return {
      transport,
      killHostOf: (shard) => transport.terminateThreadOf(shard),
      stop: async () => {},
    };
  },
});

// The worker thread of bench/grpc-hop.ts: the same real ShardReplicas as the gRPC worker process,
// answering { rid, req } messages the way src/router/shard-worker.ts does (postMessage, structured clone).
import { parentPort, workerData } from 'node:worker_threads';
import { makeConfig } from '../../src/config.ts';
import { toWire, type Request } from '../../src/router/worker-protocol.ts';
import { ReplicaHandler } from '../../test/cluster/replica-handler.ts';

const replicas = new ReplicaHandler(makeConfig(workerData as object));
parentPort!.on('message', (message: { rid: number; req: Request }) => {
  replicas.handle(message.req).then(
    (value) => parentPort!.postMessage({ rid: message.rid, ok: true, value }),
    (err: unknown) => parentPort!.postMessage({ rid: message.rid, ok: false, error: toWire(err) }),
  );
});

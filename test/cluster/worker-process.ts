// A worker process for the gRPC client tests: a WorkerServer over real ShardReplicas in a data dir,
// on the port given (0: a free one). It prints "listening <port>" once it serves, and "hanging" when
// it receives a get of id "hang", which it never answers (so a test can kill it mid-call).
// Usage: node --import tsx test/cluster/worker-process.ts <port>
import { WorkerServer } from '../../src/cluster/worker-server.ts';
import { makeConfig } from '../../src/config.ts';
import { ReplicaHandler } from './replica-handler.ts';

const config = makeConfig();
const replicas = new ReplicaHandler(config);
const server = await WorkerServer.listen({
  host: '127.0.0.1',
  port: Number(process.argv[2] ?? 0),
  config,
  snapshotSource: replicas.snapshotSource,
  handler: (req) => {
    if (req.type !== 'get' || req.id !== 'hang') return replicas.handle(req);
    process.stdout.write('hanging\n');
    return new Promise(() => {});
  },
});
process.stdout.write(`listening ${server.port}\n`);
process.on('SIGTERM', () => { void server.close().then(() => replicas.close()).then(() => process.exit(0)); });

// The worker process of bench/grpc-hop.ts: a WorkerServer over real ShardReplicas on a free port,
// settings from VECTORGATE_* (e.g. VECTORGATE_GRPC_GZIP_MIN_BYTES). Prints "listening <port>".
import { WorkerServer } from '../../src/cluster/worker-server.ts';
import { configFromEnv, makeConfig } from '../../src/config.ts';
import { ReplicaHandler } from '../../test/cluster/replica-handler.ts';

const config = makeConfig(configFromEnv(process.env));
const replicas = new ReplicaHandler(config);
const server = await WorkerServer.listen({ host: '127.0.0.1', port: 0, config, handler: replicas.handle, snapshotSource: replicas.snapshotSource });
process.stdout.write(`listening ${server.port}\n`);
process.on('SIGTERM', () => { void server.close().then(() => replicas.close()).then(() => process.exit(0)); });

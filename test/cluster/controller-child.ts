// A placement controller alone in a process (as in a proxy), for tests that kill it with SIGKILL:
// settings from VECTORGATE_* variables, its id from argv[2]; it logs JSON lines to stdout.
import { pino } from 'pino';
import { startController } from '../../src/cluster/controller.ts';
import { configFromEnv, makeConfig } from '../../src/config.ts';
import { createEtcdClient } from '../../src/storage/etcd-client.ts';

const config = makeConfig(configFromEnv(process.env));
const conn = createEtcdClient({ endpoints: config.etcdEndpoints.split(','), maxReceiveBytes: config.etcdMaxReceiveBytes, callTimeoutMs: config.etcdCallTimeoutMs });
const controller = startController({ conn, config, id: process.argv[2] ?? 'child', log: pino({ level: 'info' }) });
process.on('SIGTERM', () => void controller.stop().then(() => process.exit(0)));

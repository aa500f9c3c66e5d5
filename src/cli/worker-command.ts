// `vectorgate worker --etcd URLS --listen HOST:PORT --data-dir DIR [--zone Z] [--capacity N]`: one
// cluster shard worker (src/cluster/worker-process.ts) until SIGTERM/SIGINT, which stops it cleanly
// (stop serving, snapshot its replicas, revoke its lease) and exits 0. A port already taken fails
// at once (exit 1, naming host:port); an unreachable etcd is retried with back-off, logged.
import type { Config } from '../config.ts';
import { startWorker } from '../cluster/worker-process.ts';
import { createLogger } from '../log.ts';
import { onShutdown } from './run.ts';

export async function runWorker(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  const worker = await startWorker(config, log);
  onShutdown(log, config, worker.stop, () => undefined);
}

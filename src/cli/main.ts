// The `vectorgate` command.
import { parseCommand, USAGE } from './options.ts';
import { runStart, runProxy } from './run.ts';
import { configurationDoc } from './settings-doc.ts';
import { runWorker } from './worker-command.ts';
import { DEFAULT_CLUSTER_PROXIES, DEFAULT_CLUSTER_WORKERS, runCluster } from './cluster-command.ts';

/** Ends this process (as SIGTERM would, so it shuts down cleanly) once its parent is gone. */
function exitWithParent(parentPid: number): void {
  if (parentPid === 0) return;
  setInterval(() => {
    try {
      process.kill(parentPid, 0);
    } catch {
      process.kill(process.pid, 'SIGTERM');
    }
  }, PARENT_CHECK_MS).unref();
}
const PARENT_CHECK_MS = 1000;

async function main(): Promise<void> {
  const command = parseCommand(process.argv.slice(2), process.env);
  exitWithParent(command.config.parentPid);
  switch (command.name) {
    case 'start':
      await runStart(command.config);
      break;
    case 'proxy':
      if (!command.flags.upstream && !process.env.VECTORGATE_UPSTREAM_PORT) throw new Error('proxy needs --upstream postgres://host:port');
      await runProxy(command.config);
      break;
    case 'worker':
      await runWorker(command.config);
      break;
    case 'cluster':
      await runCluster(command.config, {
        etcd: typeof command.flags.etcd === 'string' ? command.flags.etcd : undefined,
        workers: command.flags.workers === undefined ? DEFAULT_CLUSTER_WORKERS : Number(command.flags.workers),
        proxies: DEFAULT_CLUSTER_PROXIES,
      });
      break;
    case 'load':
      // Loaded on demand: the proxy's start-up should not pay for node-postgres and the progress bar.
      await (await import('./load.ts')).runLoad(command);
      break;
    case 'settings':
      process.stdout.write(configurationDoc());
      break;
    default:
      console.log(USAGE);
  }
}

main().catch((err: unknown) => {
  console.error(`vectorgate: ${err instanceof Error ? err.message : String(err)}`);
  // A TypeError or the like is a bug of ours, not a bad flag or an unreachable server: show where.
  if (err instanceof TypeError || err instanceof ReferenceError) console.error(err.stack);
  process.exit(1);
});

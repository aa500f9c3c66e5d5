// A shard worker thread: a ReplicaHost over local WALs, answering the router's messages one at a time
// (searches are synchronous, so a worker's CPU time is the limit, never the proxy's event loop).
import { parentPort, workerData } from 'node:worker_threads';
import { openLocalLog } from './local-log.ts';
import { ReplicaHost } from './replica-host.ts';
import { toWire, type Request, type Response, type WorkerData } from './worker-protocol.ts';

const { config } = workerData as WorkerData;
const host = new ReplicaHost(config, (shardDir) => openLocalLog(shardDir, config));
const port = parentPort!;

port.on('message', (message: { rid: number; req: Request }) => {
  host.handle(message.req).then(
    (value) => port.postMessage({ rid: message.rid, ok: true, value } satisfies Response),
    (err: unknown) => port.postMessage({ rid: message.rid, ok: false, error: toWire(err) } satisfies Response),
  );
});

host.startSnapshotTimer();

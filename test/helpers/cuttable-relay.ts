// A TCP relay in front of a real server (here: an etcd member) whose connections a test can cut (or
// block: cut and refuse new ones until restored, to cut one client off while the server and its other
// clients carry on), and which can swallow the server's replies while still forwarding the client's
// requests: the way to cause, for real, a request that the server applied but whose answer the
// client never got.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface CuttableRelay {
  readonly port: number;
  /** http://127.0.0.1:<port>, as an etcd endpoint. */
  readonly url: string;
  /** While true, bytes from the server are dropped (requests still reach it). */
  swallowReplies: boolean;
  /** Connections cut so far. */
  readonly cuts: number;
  /** Destroys every open connection (the client sees a reset); new connections are relayed again. */
  cut(): void;
  /** Resets every open connection and refuses new ones until restore(). */
  block(): void;
  restore(): void;
  stop(): Promise<void>;
}

export async function startCuttableRelay(targetPort: number): Promise<CuttableRelay> {
  const sockets = new Set<Socket>();
  let cuts = 0;
  let open = true;
  const relay = {
    swallowReplies: false,
    get cuts() { return cuts; },
  } as CuttableRelay & { swallowReplies: boolean };
  const server: Server = createServer((client) => {
    if (!open) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.once('close', () => sockets.delete(s));
    }
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => { if (!relay.swallowReplies) client.write(chunk); });
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return Object.assign(relay, {
    port,
    url: `http://127.0.0.1:${port}`,
    cut() {
      for (const s of sockets) s.destroy();
      cuts++;
    },
    block() {
      open = false;
      for (const s of sockets) s.resetAndDestroy();
      cuts++;
    },
    restore() { open = true; },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

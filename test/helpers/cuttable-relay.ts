// A TCP relay in front of a real server whose link can be cut and restored, to cut one client off
// (its connections reset, new ones refused) while the server and its other clients carry on.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface CuttableRelay {
  /** host:port URL of the relay, for an etcd client. */
  url: string;
  /** Resets every relayed connection and refuses new ones until restore(). */
  cut(): void;
  restore(): void;
  stop(): Promise<void>;
}

export async function startCuttableRelay(target: URL): Promise<CuttableRelay> {
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((client) => {
    if (!open) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.once('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    cut() {
      open = false;
      for (const s of sockets) s.resetAndDestroy();
    },
    restore() { open = true; },
    stop: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

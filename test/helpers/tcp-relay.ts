// A TCP relay in front of a real server that notes, in order, when each connection carrying a
// CancelRequest is closed by the server: tests see the moment a cancel reached PostgreSQL.
import { createServer, connect, type Server, type Socket } from 'node:net';

const CANCEL_REQUEST_CODE = 80877102;

export interface Relay {
  port: number;
  /** Cancel connections the server has closed so far. */
  readonly cancelsDelivered: number;
  stop(): Promise<void>;
}

export async function startRelay(targetPort: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  let cancelsDelivered = 0;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    let first = true;
    let isCancel = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.once('close', () => sockets.delete(s));
    }
    client.on('data', (chunk: Buffer) => {
      if (first && chunk.length >= 8 && chunk.readInt32BE(4) === CANCEL_REQUEST_CODE) isCancel = true;
      first = false;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    upstream.once('close', () => {
      if (isCancel) cancelsDelivered++;
      client.destroy();
    });
    client.once('close', () => upstream.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    get cancelsDelivered() { return cancelsDelivered; },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

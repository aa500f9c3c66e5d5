// A TCP relay between a client and the test target that watches the protocol go by and records how
// many Syncs the client had sent before their ReadyForQuery answers came back. More than one in
// flight proves a client really pipelines, so a pipelining test cannot pass by accident on a
// client that waits for each answer. Plain connections only (an SSLRequest is refused).
import { createServer, connect, type Server, type Socket } from 'node:net';

const SSL_REQUEST_CODE = 80877103;
const GSSENC_REQUEST_CODE = 80877104;

export interface PipelineProbe {
  port: number;
  /** The most Syncs that were ever unanswered at once, over all connections. */
  maxInFlight(): number;
  close(): Promise<void>;
}

export async function startPipelineProbe(host: string, port: number): Promise<PipelineProbe> {
  let maxInFlight = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host, port });
    sockets.add(client).add(upstream);
    let inFlight = 0;
    const fromClient = new FrameCounter(true, (type) => {
      if (type === 0x53 /* Sync */) maxInFlight = Math.max(maxInFlight, ++inFlight);
    });
    const fromServer = new FrameCounter(false, (type) => {
      if (type === 0x5a /* ReadyForQuery */) inFlight = Math.max(0, inFlight - 1);
    });
    client.on('data', (chunk: Buffer) => {
      const refused = fromClient.push(chunk);
      if (refused) client.write(refused); else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => { fromServer.push(chunk); client.write(chunk); });
    const closeBoth = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    for (const socket of [client, upstream]) {
      socket.on('close', closeBoth);
      socket.on('error', closeBoth);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    maxInFlight: () => maxInFlight,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Splits one direction of a connection into messages and reports each message's type byte. */
class FrameCounter {
  private pending = Buffer.alloc(0);
  private startupDone: boolean;

  constructor(frontend: boolean, private readonly onMessage: (type: number) => void) {
    this.startupDone = !frontend;
  }

  /** Returns bytes to answer the client with directly instead of forwarding (an SSLRequest's 'N'). */
  push(chunk: Buffer): Buffer | null {
    this.pending = Buffer.concat([this.pending, chunk]);
    let refusal: Buffer | null = null;
    for (;;) {
      if (!this.startupDone) {
        if (this.pending.length < 8) break;
        const length = this.pending.readInt32BE(0);
        if (this.pending.length < length) break;
        const code = this.pending.readInt32BE(4);
        this.pending = this.pending.subarray(length);
        if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
          refusal = Buffer.from('N');
          continue;
        }
        this.startupDone = true;
        continue;
      }
      if (this.pending.length < 5) break;
      const length = this.pending.readInt32BE(1);
      if (this.pending.length < 1 + length) break;
      this.onMessage(this.pending[0]!);
      this.pending = this.pending.subarray(1 + length);
    }
    if (refusal && this.pending.length > 0) throw new Error('pipeline probe: data after an SSLRequest in the same chunk');
    return refusal;
  }
}

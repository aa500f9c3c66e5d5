// A raw protocol client for tests that must control every message: pipelines, malformed input.
// Frontend messages come from pg-protocol's serializer; backend ones are parsed by pg-protocol's Parser.
import { connect, type Socket } from 'node:net';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';

export { serialize };

export type Message = BackendMessage & Record<string, unknown>;

export class WireClient {
  private readonly parser = new Parser();
  private readonly received: Message[] = [];
  private waiter: (() => void) | null = null;
  closed = false;
  /** TCP reads so far: how many writes the server's responses came in (on loopback, one per write). */
  chunks = 0;

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.chunks++;
      this.parser.parse(chunk, (msg) => this.received.push(msg as Message));
      this.waiter?.();
    });
    socket.on('close', () => { this.closed = true; this.waiter?.(); });
    socket.on('error', () => { this.closed = true; this.waiter?.(); });
  }

  /** Connects and logs in as a trust-authenticated role (no password exchange). */
  static async connect(port: number, user: string, database: string): Promise<WireClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    const client = new WireClient(socket);
    client.send(serialize.startup({ user, database }));
    const startup = await client.readUntilReady();
    const error = startup.find((m) => m.name === 'error');
    if (error) throw new Error(`login failed: ${String(error.message)}`);
    return client;
  }

  send(...buffers: Buffer[]): void {
    this.socket.write(Buffer.concat(buffers));
  }

  /** Messages up to and including the next ReadyForQuery. */
  async readUntilReady(timeoutMs = 20_000): Promise<Message[]> {
    return this.readUntil((m) => m.name === 'readyForQuery', timeoutMs);
  }

  async readUntil(done: (m: Message) => boolean, timeoutMs = 20_000): Promise<Message[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.received.findIndex(done);
      if (at >= 0) return this.received.splice(0, at + 1);
      if (this.closed) return this.received.splice(0);
      if (Date.now() > deadline) throw new Error(`timed out; got ${this.received.map((m) => m.name).join(',')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.waiter = () => { clearTimeout(timer); this.waiter = null; resolve(); };
      });
    }
  }

  /** Messages received and not yet read. */
  get unread(): number {
    return this.received.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.socket.end(serialize.end());
    await new Promise<void>((resolve) => { this.socket.once('close', () => resolve()); setTimeout(resolve, 2000); });
  }
}

/** Compact view of a message list for assertions: name, plus the interesting field. */
export function summary(messages: Message[]): string[] {
  return messages.map((m) => {
    switch (m.name) {
      case 'dataRow': return `D:${(m.fields as unknown[]).map(String).join('|')}`;
      case 'commandComplete': return `C:${String(m.text)}`;
      case 'readyForQuery': return `Z:${String(m.status)}`;
      case 'error': return `E:${String(m.code)}`;
      case 'rowDescription': return `T:${(m.fields as { name: string; dataTypeID: number }[]).map((f) => `${f.name}/${f.dataTypeID}`).join(',')}`;
      case 'parameterDescription': return `t:${(m.dataTypeIDs as number[]).join(',')}`;
      default: return m.name;
    }
  });
}

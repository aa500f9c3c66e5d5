// A raw protocol client that speaks bytes, not strings: it sends statement text and parameters already
// encoded in a session's client_encoding and returns DataRow fields as the bytes the server sent, so a
// test can check what a non-UTF-8 client really sends and receives.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
import { connect, type Socket } from 'node:net';

export interface Reply {
  rows: (Buffer | null)[][];
  /** SQLSTATE and message of the first ErrorResponse, if any. */
  error: { code: string; message: string } | null;
  /** CommandComplete tags. */
  tags: string[];
}

interface BackendMessage { code: string; body: Buffer }

function message(code: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const header = Buffer.alloc(5);
  header.write(code, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

/** Protocol 3.0 StartupMessage (pg-protocol's would add client_encoding UTF8 after ours). */
function startupMessage(params: Record<string, string>): Buffer {
  const pairs = Object.entries(params).flatMap(([key, value]) => [cstring(Buffer.from(key)), cstring(Buffer.from(value))]);
  const body = Buffer.concat([int32(3 << 16), ...pairs, Buffer.from([0])]);
  return Buffer.concat([int32(body.length + 4), body]);
}

const cstring = (bytes: Buffer): Buffer => Buffer.concat([bytes, Buffer.from([0])]);
const int16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
const int32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };

export class EncodedClient {
  private buffered = Buffer.alloc(0);
  private messages: BackendMessage[] = [];
  private waiter: (() => void) | null = null;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 5 && this.buffered.length >= 1 + this.buffered.readInt32BE(1)) {
        const length = this.buffered.readInt32BE(1);
        this.messages.push({ code: String.fromCharCode(this.buffered[0]!), body: this.buffered.subarray(5, 1 + length) });
        this.buffered = this.buffered.subarray(1 + length);
      }
      this.waiter?.();
    });
    const end = () => { this.closed = true; this.waiter?.(); };
    socket.on('close', end);
    socket.on('error', end);
  }

  /** Logs in as a trust-authenticated role; `options` go in the StartupMessage (e.g. client_encoding). */
  static async connect(port: number, user: string, database: string, options: Record<string, string> = {}): Promise<EncodedClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    const client = new EncodedClient(socket);
    socket.write(startupMessage({ user, database, ...options }));
    const reply = await client.untilReady();
    if (reply.error) throw new Error(`login failed: ${reply.error.message}`);
    return client;
  }

  /** A simple Query of `sql` (bytes in the session's encoding). */
  query(sql: Buffer): Promise<Reply> {
    this.socket.write(message('Q', cstring(sql)));
    return this.untilReady();
  }

  /** Parse, Bind (text parameters as given), Execute and Sync of the unnamed statement. */
  extended(sql: Buffer, params: (Buffer | null)[]): Promise<Reply> {
    const values = params.map((p) => (p === null ? int32(-1) : Buffer.concat([int32(p.length), p])));
    this.socket.write(Buffer.concat([
      message('P', cstring(Buffer.alloc(0)), cstring(sql), int16(0)),
      message('B', cstring(Buffer.alloc(0)), cstring(Buffer.alloc(0)), int16(0), int16(params.length), ...values, int16(0)),
      message('E', cstring(Buffer.alloc(0)), int32(0)),
      message('S'),
    ]));
    return this.untilReady();
  }

  /** COPY … FROM STDIN by a simple Query: each chunk one CopyData message, then CopyDone. */
  async copyIn(sql: Buffer, chunks: Buffer[]): Promise<Reply> {
    this.socket.write(message('Q', cstring(sql)));
    const start = await this.read('G');
    if (start.stoppedAt !== 'G') return start.reply;
    this.socket.write(Buffer.concat([...chunks.map((c) => message('d', c)), message('c')]));
    return this.untilReady();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.socket.end(message('X'));
    await new Promise<void>((resolve) => { this.socket.once('close', () => resolve()); setTimeout(resolve, 2000); });
  }

  private async untilReady(): Promise<Reply> {
    return (await this.read('Z')).reply;
  }

  /** Messages up to ReadyForQuery, or up to `stop` if that comes first. */
  private async read(stop: string): Promise<{ reply: Reply; stoppedAt: string }> {
    const reply: Reply = { rows: [], error: null, tags: [] };
    for (;;) {
      const next = this.messages.shift();
      if (next === undefined) {
        if (this.closed) throw new Error('connection closed before ReadyForQuery');
        await new Promise<void>((resolve) => { this.waiter = () => { this.waiter = null; resolve(); }; });
        continue;
      }
      if (next.code === 'Z' || next.code === stop) return { reply, stoppedAt: next.code };
      if (next.code === 'D') reply.rows.push(dataRow(next.body));
      if (next.code === 'C') reply.tags.push(next.body.toString('latin1', 0, next.body.length - 1));
      if (next.code === 'E' && reply.error === null) reply.error = errorFields(next.body);
    }
  }
}

function dataRow(body: Buffer): (Buffer | null)[] {
  const count = body.readInt16BE(0);
  const fields: (Buffer | null)[] = [];
  let at = 2;
  for (let i = 0; i < count; i++) {
    const length = body.readInt32BE(at);
    at += 4;
    fields.push(length < 0 ? null : Buffer.from(body.subarray(at, at + length)));
    at += Math.max(0, length);
  }
  return fields;
}

function errorFields(body: Buffer): { code: string; message: string } {
  const fields = new Map<string, string>();
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const end = body.indexOf(0, at + 1);
    fields.set(String.fromCharCode(body[at]!), body.toString('latin1', at + 1, end));
    at = end + 1;
  }
  return { code: fields.get('C') ?? '', message: fields.get('M') ?? '' };
}

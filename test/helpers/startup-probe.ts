// Startup-phase probes: raw bytes to a server (proxy or PostgreSQL), and everything it answers until
// it closes or is ready, as a list of messages a test can compare between the two servers.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
import { connect } from 'node:net';

export interface Reply {
  /** One line per backend message: its type and what must match (SQLSTATE, auth kind, whole body). */
  messages: string[];
  /** The server closed the connection (rather than the probe, after ReadyForQuery). */
  closedByServer: boolean;
}

export interface ProbeOptions {
  /** Half-close after writing, as a client that gives up does. */
  endAfterWrite?: boolean;
  /** Answer an authentication request; returns what to send. */
  onAuthRequest?: (kind: number) => Buffer | null;
  /** ReadyForQuery messages to wait for before terminating (1 + queries sent with the startup). */
  readyCount?: number;
}

/** Writes `bytes`, reads until the server closes or sends ReadyForQuery (then sends Terminate). */
export function probe(port: number, bytes: Buffer, options: ProbeOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    const messages: string[] = [];
    let ready = false;
    let readyLeft = options.readyCount ?? 1;
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no end of startup; got ${messages.join(' ')}`)); }, 30_000);
    socket.once('connect', () => {
      if (bytes.length > 0) socket.write(bytes);
      if (options.endAfterWrite) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      for (;;) {
        const message = nextMessage(received, messages.length === 0);
        if (message === null) break;
        received = received.subarray(message.length);
        messages.push(message.length === 1 ? message.code : describe(message.code, message.body));
        if (message.code === 'R' && message.body.readInt32BE(0) !== 0) {
          const answer = options.onAuthRequest?.(message.body.readInt32BE(0));
          if (answer) socket.write(answer);
        }
        if (message.code === 'Z' && --readyLeft === 0) {
          ready = true;
          socket.end(Buffer.from([0x58, 0, 0, 0, 4]));
        }
      }
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      if (received.length > 0) messages.push(`bytes ${received.toString('hex')}`);
      resolve({ messages, closedByServer: !ready });
    });
  });
}

/** A single-byte answer to SSLRequest/GSSENCRequest, or one typed message; null when incomplete. */
function nextMessage(data: Buffer, first: boolean): { code: string; body: Buffer; length: number } | null {
  if (first && data.length >= 1 && (data[0] === 0x4e || data[0] === 0x53) && (data.length === 1 || data[1] !== 0)) {
    return { code: String.fromCharCode(data[0]!), body: Buffer.alloc(0), length: 1 };
  }
  if (data.length < 5) return null;
  const length = data.readInt32BE(1) + 1;
  if (data.length < length) return null;
  return { code: String.fromCharCode(data[0]!), body: data.subarray(5, length), length };
}

function describe(code: string, body: Buffer): string {
  switch (code) {
    case 'E':
    case 'N':
      return `${code} ${errorField(body, 'S')} ${errorField(body, 'C')} ${errorField(body, 'M')}`;
    case 'R':
      return `R ${body.readInt32BE(0)}`;
    case 'v':
      return `v ${body.toString('hex')}`;
    case 'S':
      return `S ${body.toString('utf8').split('\0')[0]}`;
    case 'Z':
      return `Z ${String.fromCharCode(body[0]!)}`;
    default:
      return body.length === 0 ? code : `${code} (${body.length} bytes)`;
  }
}

function errorField(body: Buffer, field: string): string {
  for (let at = 0; at < body.length && body[at] !== 0;) {
    const end = body.indexOf(0, at + 1);
    if (String.fromCharCode(body[at]!) === field) return body.toString('utf8', at + 1, end);
    at = end + 1;
  }
  return '';
}

/** A StartupMessage of any protocol version, from key/value pairs (no validation: tests send bad ones too). */
export function startupPacket(protocol: number, params: Record<string, string>, terminator = true): Buffer {
  const pairs = Object.entries(params).flatMap(([k, v]) => [k, v]).map((s) => `${s}\0`).join('');
  const body = Buffer.from(pairs + (terminator ? '\0' : ''));
  const packet = Buffer.alloc(8 + body.length);
  packet.writeInt32BE(packet.length, 0);
  packet.writeInt32BE(protocol, 4);
  body.copy(packet, 8);
  return packet;
}

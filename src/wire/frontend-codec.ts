// Pure codec for frontend (client → server) messages: bytes in, messages out, no sockets.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
// Each message keeps `raw`, a view of its exact bytes, so the pass-through path forwards them as they came.
import { FrontendCode, StartupCode, isFrontendCode } from './codes.ts';
import { protocolViolation } from '../errors.ts';

export interface FrontendMessage {
  /** Type byte; 0 for an untyped startup-phase packet. */
  readonly code: number;
  /** The whole message: type byte (if any), length, body. */
  readonly raw: Buffer;
}

const HEADER_BYTES = 5;

/**
 * Splits a byte stream into messages. Startup-phase packets (no type byte) are read until
 * `expectTyped()` is called, after the StartupMessage has been seen.
 */
export class FrontendReader {
  private pending: Buffer | null = null;
  private typed = false;
  private readonly maxMessageBytes: number;
  private readonly maxStartupBytes: number;

  constructor(limits: { maxMessageBytes: number; maxStartupPacketBytes: number }) {
    this.maxMessageBytes = limits.maxMessageBytes;
    this.maxStartupBytes = limits.maxStartupPacketBytes;
  }

  expectTyped(): void {
    this.typed = true;
  }

  get isTyped(): boolean {
    return this.typed;
  }

  /** Bytes received but not yet part of a whole message. */
  get bufferedBytes(): number {
    return this.pending?.length ?? 0;
  }

  /** Appends a chunk and returns every whole message it completes. Throws a FATAL 08P01 on bad framing. */
  push(chunk: Buffer): FrontendMessage[] {
    let data = chunk;
    if (this.pending !== null) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    const out: FrontendMessage[] = [];
    let offset = 0;
    while (offset < data.length) {
      const length = this.typed ? this.typedLength(data, offset) : this.startupLength(data, offset);
      if (length < 0 || offset + length > data.length) break;
      const raw = data.subarray(offset, offset + length);
      out.push({ code: this.typed ? raw[0]! : 0, raw });
      offset += length;
      // A StartupMessage switches to typed messages; SSL/GSS/cancel requests do not.
      if (!this.typed && raw.length >= 8 && raw.readInt32BE(4) === StartupCode.Protocol3) this.typed = true;
      if (!this.typed && raw.length >= 8 && isTlsOrGssRequest(raw) && offset < data.length) {
        // Bytes after SSLRequest before our answer would be injected pre-TLS plaintext (CVE-2021-23222).
        throw protocolViolation('received unencrypted data after SSL request');
      }
    }
    if (offset < data.length) this.pending = Buffer.from(data.subarray(offset));
    return out;
  }

  /** Whole typed message length including the type byte, or -1 when the header is incomplete. */
  private typedLength(data: Buffer, offset: number): number {
    if (data.length - offset < HEADER_BYTES) return -1;
    const code = data[offset]!;
    if (!isFrontendCode(code)) throw protocolViolation(`invalid frontend message type ${code}`);
    const length = data.readInt32BE(offset + 1);
    if (length < 4) throw protocolViolation(`invalid message length ${length}`);
    if (length > this.maxMessageBytes) {
      throw protocolViolation(`message of ${length} bytes exceeds the limit of ${this.maxMessageBytes} bytes`);
    }
    return length + 1;
  }

  private startupLength(data: Buffer, offset: number): number {
    if (data.length - offset < 4) return -1;
    const length = data.readInt32BE(offset);
    if (length < 8 || length > this.maxStartupBytes) throw protocolViolation(`invalid length of startup packet ${length}`);
    return length;
  }
}

function isTlsOrGssRequest(raw: Buffer): boolean {
  const code = raw.readInt32BE(4);
  return code === StartupCode.SSLRequest || code === StartupCode.GSSENCRequest;
}

/** Reads NUL-terminated strings and integers from a message body, checking every bound. */
export class BodyReader {
  private offset: number;
  constructor(private readonly buf: Buffer, start: number) {
    this.offset = start;
  }

  cstring(): string {
    const end = this.buf.indexOf(0, this.offset);
    if (end < 0) throw protocolViolation('invalid string in message');
    const text = this.buf.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return text;
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  byte(): number {
    this.need(1);
    return this.buf[this.offset++]!;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  end(): void {
    if (this.offset !== this.buf.length) throw protocolViolation('invalid message format');
  }

  private need(n: number): void {
    if (this.offset + n > this.buf.length) throw protocolViolation('insufficient data left in message');
  }
}

const BODY = HEADER_BYTES;

export interface StartupMessage {
  kind: 'startup';
  protocol: number;
  params: Map<string, string>;
}
export interface CancelRequest { kind: 'cancel'; processId: number; secretKey: number }
export interface NegotiationRequest { kind: 'ssl' | 'gssenc' }
export type StartupPacket = StartupMessage | CancelRequest | NegotiationRequest;

export function decodeStartupPacket(raw: Buffer): StartupPacket {
  const code = raw.readInt32BE(4);
  if (code === StartupCode.SSLRequest) return { kind: 'ssl' };
  if (code === StartupCode.GSSENCRequest) return { kind: 'gssenc' };
  if (code === StartupCode.CancelRequest) {
    if (raw.length !== 16) throw protocolViolation('invalid length of cancel request');
    return { kind: 'cancel', processId: raw.readInt32BE(8), secretKey: raw.readInt32BE(12) };
  }
  if (code >> 16 !== 3) throw protocolViolation(`unsupported frontend protocol ${code >> 16}.${code & 0xffff}`);
  const reader = new BodyReader(raw, 8);
  const params = new Map<string, string>();
  for (;;) {
    const key = reader.cstring();
    if (key === '') break;
    params.set(key, reader.cstring());
  }
  reader.end();
  if (!params.has('user')) throw protocolViolation('no PostgreSQL user name specified in startup packet');
  return { kind: 'startup', protocol: code, params };
}

export interface Query { sql: string }
export interface Parse { name: string; sql: string; paramTypes: number[] }
export interface Bind {
  portal: string;
  statement: string;
  paramFormats: number[];
  params: (Buffer | null)[];
  resultFormats: number[];
}
export interface Describe { kind: 'S' | 'P'; name: string }
export interface Execute { portal: string; maxRows: number }
export type Close = Describe;

export function decodeQuery(raw: Buffer): Query {
  const reader = new BodyReader(raw, BODY);
  const sql = reader.cstring();
  reader.end();
  return { sql };
}

export function decodeParse(raw: Buffer): Parse {
  const reader = new BodyReader(raw, BODY);
  const name = reader.cstring();
  const sql = reader.cstring();
  const count = reader.int16();
  if (count < 0) throw protocolViolation('invalid parameter type count');
  const paramTypes: number[] = [];
  for (let i = 0; i < count; i++) paramTypes.push(reader.uint32());
  reader.end();
  return { name, sql, paramTypes };
}

/** Just the names a router needs, without touching parameter values. */
export function decodeBindNames(raw: Buffer): { portal: string; statement: string } {
  const reader = new BodyReader(raw, BODY);
  return { portal: reader.cstring(), statement: reader.cstring() };
}

export function decodeBind(raw: Buffer): Bind {
  const reader = new BodyReader(raw, BODY);
  const portal = reader.cstring();
  const statement = reader.cstring();
  const paramFormats = readInt16List(reader);
  const paramCount = reader.int16();
  if (paramCount < 0) throw protocolViolation('invalid parameter count');
  const params: (Buffer | null)[] = [];
  for (let i = 0; i < paramCount; i++) {
    const length = reader.int32();
    if (length < -1) throw protocolViolation(`invalid parameter length ${length}`);
    params.push(length === -1 ? null : reader.bytes(length));
  }
  const resultFormats = readInt16List(reader);
  reader.end();
  for (const format of [...paramFormats, ...resultFormats]) {
    if (format !== 0 && format !== 1) throw protocolViolation(`unsupported format code: ${format}`);
  }
  return { portal, statement, paramFormats, params, resultFormats };
}

function readInt16List(reader: BodyReader): number[] {
  const count = reader.int16();
  if (count < 0) throw protocolViolation('invalid count in message');
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(reader.int16());
  return out;
}

export function decodeDescribe(raw: Buffer): Describe {
  const reader = new BodyReader(raw, BODY);
  const kind = reader.byte();
  if (kind !== 0x53 && kind !== 0x50) throw protocolViolation(`invalid DESCRIBE message subtype ${kind}`);
  const name = reader.cstring();
  reader.end();
  return { kind: kind === 0x53 ? 'S' : 'P', name };
}

export const decodeClose = decodeDescribe;

export function decodeExecute(raw: Buffer): Execute {
  const reader = new BodyReader(raw, BODY);
  const portal = reader.cstring();
  const maxRows = reader.int32();
  reader.end();
  return { portal, maxRows };
}

/** Fixed-size messages must have exactly their header. */
export function checkEmptyBody(raw: Buffer, code: FrontendCode.Sync | FrontendCode.Flush | FrontendCode.Terminate | FrontendCode.CopyDone): void {
  if (raw.length !== HEADER_BYTES) throw protocolViolation(`invalid length of message type ${String.fromCharCode(code)}`);
}

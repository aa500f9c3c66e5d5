// Pure codec for frontend (client → server) messages: bytes in, messages out, no sockets.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
// Each message keeps `raw`, a view of its exact bytes, so the pass-through path forwards them as they came.
import { FrontendCode, StartupCode, isFrontendCode } from './codes.ts';
import { SqlState, VectorgateError, protocolViolation } from '../errors.ts';

export interface FrontendMessage {
  /** Type byte; 0 for an untyped startup-phase packet. */
  readonly code: number;
  /** The whole message: type byte (if any), length, body. */
  readonly raw: Buffer;
}

const HEADER_BYTES = 5;

/** A message whose header has been read and whose body is still arriving, in the chunks that brought it. */
interface PartialMessage {
  readonly length: number;
  readonly parts: Buffer[];
  received: number;
}

export interface ReaderLimits {
  maxMessageBytes: number;
  maxStartupPacketBytes: number;
}

/**
 * Splits a byte stream into messages. Startup-phase packets (no type byte) are read until a
 * StartupMessage has been seen. A message longer than the chunk that starts it is collected as a list
 * of chunks and concatenated once, when its last byte arrives: receiving it costs its size, not its
 * size times the number of chunks.
 */
export class FrontendReader {
  /** Fewer bytes than a header (or the bytes behind a TLS request), kept until the next chunk. */
  private head: Buffer | null = null;
  private partial: PartialMessage | null = null;
  private typed = false;
  private silentLengthErrors = false;
  /** The header of the last typed message refused for its length (what PostgreSQL would have read of it). */
  rejectedHeader: Buffer | null = null;
  private maxMessageBytes: number;
  private readonly maxStartupBytes: number;

  constructor(limits: ReaderLimits) {
    this.maxMessageBytes = limits.maxMessageBytes;
    this.maxStartupBytes = limits.maxStartupPacketBytes;
  }

  expectTyped(): void {
    this.typed = true;
  }

  get isTyped(): boolean {
    return this.typed;
  }

  /**
   * Largest typed message accepted from now on; checked at each header, before its body is read.
   * Before authentication PostgreSQL closes on a bad length without answering (`silent`).
   */
  limitMessageBytes(maxMessageBytes: number, silent = false): void {
    this.maxMessageBytes = maxMessageBytes;
    this.silentLengthErrors = silent;
  }

  /** Bytes received but not yet part of a whole message. */
  get bufferedBytes(): number {
    return (this.head?.length ?? 0) + (this.partial?.received ?? 0);
  }

  /** Appends a chunk and returns every whole message it completes. Throws a FATAL 08P01 on bad framing. */
  push(chunk: Buffer): FrontendMessage[] {
    const out: FrontendMessage[] = [];
    let data = chunk;
    if (this.partial !== null) {
      data = this.continuePartial(data, out);
      if (this.partial !== null) return out;
      if (this.holdAfterTlsRequest(out, data)) return out;
    }
    if (this.head !== null) {
      data = Buffer.concat([this.head, data]);
      this.head = null;
    }
    let offset = 0;
    while (offset < data.length) {
      const length = this.typed ? this.typedLength(data, offset) : this.startupLength(data, offset);
      if (length < 0) {
        this.head = Buffer.from(data.subarray(offset));
        break;
      }
      if (offset + length > data.length) {
        this.partial = { length, parts: [data.subarray(offset)], received: data.length - offset };
        break;
      }
      this.emit(data.subarray(offset, offset + length), out);
      offset += length;
      if (this.holdAfterTlsRequest(out, data.subarray(offset))) break;
    }
    return out;
  }

  /**
   * Bytes behind an SSLRequest/GSSENCRequest are not read as messages: they arrived before the answer,
   * unencrypted, and the session refuses them after answering, as PostgreSQL does (CVE-2021-23222).
   */
  private holdAfterTlsRequest(out: FrontendMessage[], rest: Buffer): boolean {
    if (this.typed || rest.length === 0 || !isTlsOrGssRequest(out[out.length - 1]!.raw)) return false;
    this.head = Buffer.from(rest);
    return true;
  }

  /** Adds a chunk to the message being collected; returns what is left of the chunk after it. */
  private continuePartial(chunk: Buffer, out: FrontendMessage[]): Buffer {
    const partial = this.partial!;
    const missing = partial.length - partial.received;
    if (chunk.length < missing) {
      partial.parts.push(chunk);
      partial.received += chunk.length;
      return chunk.subarray(chunk.length);
    }
    partial.parts.push(chunk.subarray(0, missing));
    this.partial = null;
    this.emit(Buffer.concat(partial.parts, partial.length), out);
    return chunk.subarray(missing);
  }

  private emit(raw: Buffer, out: FrontendMessage[]): void {
    out.push({ code: this.typed ? raw[0]! : 0, raw });
    // A StartupMessage (any 3.x) switches to typed messages; SSL/GSS/cancel requests do not.
    if (!this.typed && isProtocol3Startup(raw)) this.typed = true;
  }

  /** Whole typed message length including the type byte, or -1 when the header is incomplete. */
  private typedLength(data: Buffer, offset: number): number {
    if (data.length - offset < HEADER_BYTES) return -1;
    const code = data[offset]!;
    if (!isFrontendCode(code)) throw protocolViolation(`invalid frontend message type ${code}`);
    const length = data.readInt32BE(offset + 1);
    if (length < 4 || length > this.maxMessageBytes) {
      this.rejectedHeader = Buffer.from(data.subarray(offset, offset + HEADER_BYTES));
      const reject = this.silentLengthErrors ? startupRejected : protocolViolation;
      throw reject(length < 4 ? `invalid message length ${length}` : `message of ${length} bytes exceeds the limit of ${this.maxMessageBytes} bytes`);
    }
    return length + 1;
  }

  /**
   * PostgreSQL's limit counts the packet without its length word (MAX_STARTUP_PACKET_LENGTH), and a
   * bad length is logged only (COMMERROR): the client gets no answer, just the close.
   * https://github.com/postgres/postgres/blob/REL_15_STABLE/src/backend/postmaster/postmaster.c (ProcessStartupPacket)
   */
  private startupLength(data: Buffer, offset: number): number {
    if (data.length - offset < 4) return -1;
    const length = data.readInt32BE(offset);
    if (length < 8 || length - 4 > this.maxStartupBytes) throw startupRejected(`invalid length of startup packet ${length}`);
    return length;
  }
}

/** A startup-phase failure that PostgreSQL logs without answering (COMMERROR): the connection just ends. */
export function startupRejected(message: string): VectorgateError {
  return new VectorgateError(SqlState.ProtocolViolation, message, { severity: 'COMMERROR' });
}

/** Bytes after SSLRequest before our answer would be injected pre-TLS plaintext (CVE-2021-23222). */
export function unencryptedAfterTlsRequest(): VectorgateError {
  return protocolViolation('received unencrypted data after SSL request');
}

function isProtocol3Startup(raw: Buffer): boolean {
  return raw.length >= 8 && raw.readInt32BE(4) >> 16 === 3;
}

function isTlsOrGssRequest(raw: Buffer): boolean {
  if (raw.length < 8) return false;
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

  /** Counts in Parse and Bind are unsigned 16-bit: up to 65,535 parameters are legal. */
  uint16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.offset);
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

/** Anything else is a StartupMessage for PostgreSQL to judge (protocol version, layout, user). */
export interface StartupMessage { kind: 'startup'; protocol: number }
/** The secret key is 4 bytes in protocol 3.0 and up to 256 in 3.2 (PostgreSQL 18's longer keys). */
export interface CancelRequest { kind: 'cancel'; processId: number; secretKey: Buffer }

const MAX_CANCEL_KEY_BYTES = 256;
export interface NegotiationRequest { kind: 'ssl' | 'gssenc' }
export type StartupPacket = StartupMessage | CancelRequest | NegotiationRequest;

/**
 * Tells the special requests from a StartupMessage. The proxy does not judge a StartupMessage itself:
 * it goes upstream unchanged, so that PostgreSQL answers an unsupported protocol, a newer minor
 * version or `_pq_.` options (NegotiateProtocolVersion), a bad layout or a missing user exactly as
 * it would to a direct client.
 * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
 */
export function decodeStartupPacket(raw: Buffer): StartupPacket {
  const code = raw.readInt32BE(4);
  if (code === StartupCode.SSLRequest) return { kind: 'ssl' };
  if (code === StartupCode.GSSENCRequest) return { kind: 'gssenc' };
  if (code === StartupCode.CancelRequest) {
    // PostgreSQL ignores a cancel it cannot match, with no answer; a malformed one can match nothing.
    if (raw.length < 16 || raw.length > 12 + MAX_CANCEL_KEY_BYTES) throw startupRejected('invalid length of cancel request');
    return { kind: 'cancel', processId: raw.readInt32BE(8), secretKey: raw.subarray(12) };
  }
  return { kind: 'startup', protocol: code };
}

/** The parameters of a well-formed StartupMessage (for logs and tests; PostgreSQL validates them). */
export function startupParameters(raw: Buffer): Map<string, string> {
  const reader = new BodyReader(raw, 8);
  const params = new Map<string, string>();
  for (;;) {
    const key = reader.cstring();
    if (key === '') break;
    params.set(key, reader.cstring());
  }
  reader.end();
  return params;
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
  const count = reader.uint16();
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
  const paramCount = reader.uint16();
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
  const count = reader.uint16();
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

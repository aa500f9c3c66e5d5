// Builds backend (server → client) messages for statements the proxy answers itself.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
import { BackendCode, type TransactionStatus } from './codes.ts';
import type { VectorgateError } from '../errors.ts';
import type { Notice } from '../sql/local-plan.ts';

/** Growable buffer for one or more messages; `finish()` returns the bytes written. */
export class MessageWriter {
  private buf: Buffer;
  private offset = 0;
  private messageStart = -1;

  constructor(initialBytes = 256) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Starts a message; frontend codes are allowed for the few messages the proxy sends upstream. */
  begin(code: number): this {
    if (this.messageStart >= 0) throw new Error('MessageWriter: begin() inside an open message');
    this.ensure(5);
    this.buf[this.offset] = code;
    this.messageStart = this.offset;
    this.offset += 5;
    return this;
  }

  end(): this {
    if (this.messageStart < 0) throw new Error('MessageWriter: end() without begin()');
    this.buf.writeInt32BE(this.offset - this.messageStart - 1, this.messageStart + 1);
    this.messageStart = -1;
    return this;
  }

  int16(v: number): this {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.offset);
    this.offset += 2;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.offset);
    this.offset += 4;
    return this;
  }

  uint32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.offset);
    this.offset += 4;
    return this;
  }

  byte(v: number): this {
    this.ensure(1);
    this.buf[this.offset++] = v;
    return this;
  }

  cstring(text: string): this {
    const length = Buffer.byteLength(text);
    this.ensure(length + 1);
    this.buf.write(text, this.offset, 'utf8');
    this.offset += length;
    this.buf[this.offset++] = 0;
    return this;
  }

  bytes(data: Uint8Array): this {
    this.ensure(data.length);
    this.buf.set(data, this.offset);
    this.offset += data.length;
    return this;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.offset;
  }

  /** Returns the whole messages written so far and starts over with a fresh buffer (they stay valid). */
  take(): Buffer {
    const out = this.finish();
    this.buf = Buffer.allocUnsafe(Math.min(this.buf.length, 64 * 1024));
    this.offset = 0;
    return out;
  }

  finish(): Buffer {
    if (this.messageStart >= 0) throw new Error('MessageWriter: finish() inside an open message');
    return this.buf.subarray(0, this.offset);
  }

  private ensure(n: number): void {
    if (this.offset + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.offset + n));
    this.buf.copy(next, 0, 0, this.offset);
    this.buf = next;
  }
}

export interface FieldDescription {
  name: string;
  typeOid: number;
  /** pg_type.typlen: -1 for variable length. */
  typeSize: number;
  /** 0 text, 1 binary. */
  format: number;
}

export function writeRowDescription(w: MessageWriter, fields: readonly FieldDescription[]): void {
  w.begin(BackendCode.RowDescription).int16(fields.length);
  for (const f of fields) w.cstring(f.name).int32(0).int16(0).uint32(f.typeOid).int16(f.typeSize).int32(-1).int16(f.format);
  w.end();
}

export function writeDataRow(w: MessageWriter, values: readonly (Buffer | null)[]): void {
  w.begin(BackendCode.DataRow).int16(values.length);
  for (const v of values) {
    if (v === null) w.int32(-1);
    else w.int32(v.length).bytes(v);
  }
  w.end();
}

export function writeCommandComplete(w: MessageWriter, tag: string): void {
  w.begin(BackendCode.CommandComplete).cstring(tag).end();
}

export function writeReadyForQuery(w: MessageWriter, status: TransactionStatus): void {
  w.begin(BackendCode.ReadyForQuery).byte(status.charCodeAt(0)).end();
}

export function writeParameterDescription(w: MessageWriter, typeOids: readonly number[]): void {
  w.begin(BackendCode.ParameterDescription).int16(typeOids.length);
  for (const oid of typeOids) w.uint32(oid);
  w.end();
}

export function writeEmpty(w: MessageWriter, code: BackendCode.ParseComplete | BackendCode.BindComplete | BackendCode.CloseComplete | BackendCode.NoData | BackendCode.PortalSuspended | BackendCode.EmptyQueryResponse): void {
  w.begin(code).end();
}

interface ResponseFields { severity: string; code: string; message: string; detail?: string | undefined; hint?: string | undefined; where?: string | undefined }

/** ErrorResponse and NoticeResponse carry the same fields: https://www.postgresql.org/docs/current/protocol-error-fields.html */
function writeFields(w: MessageWriter, code: BackendCode.ErrorResponse | BackendCode.NoticeResponse, f: ResponseFields): void {
  w.begin(code);
  w.byte(0x53).cstring(f.severity); // S
  w.byte(0x56).cstring(f.severity); // V: not localized
  w.byte(0x43).cstring(f.code); // C
  w.byte(0x4d).cstring(f.message); // M
  if (f.detail !== undefined) w.byte(0x44).cstring(f.detail); // D
  if (f.hint !== undefined) w.byte(0x48).cstring(f.hint); // H
  if (f.where !== undefined) w.byte(0x57).cstring(f.where); // W
  w.byte(0).end();
}

export function writeError(w: MessageWriter, err: VectorgateError): void {
  writeFields(w, BackendCode.ErrorResponse, err);
}

export function writeNotice(w: MessageWriter, notice: Notice): void {
  writeFields(w, BackendCode.NoticeResponse, notice);
}

export function errorMessage(err: VectorgateError): Buffer {
  const w = new MessageWriter(128);
  writeError(w, err);
  return w.finish();
}

/** One-byte answer to SSLRequest / GSSENCRequest. */
export const SSL_ACCEPT = Buffer.from('S');
export const SSL_REFUSE = Buffer.from('N');

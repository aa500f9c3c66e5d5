// The byte frame every gRPC message between proxies and workers travels in (worker-codec.ts gives
// each request and result its fields). Numbers that must survive bit for bit (vectors, distances)
// travel as raw little-endian blobs after a JSON part, never as JSON numbers: JSON loses -0, NaN and
// costs ~10 bytes and a parse per float.
//   [u8 version][u8 flags (bit 0: gzip'd after the header)][u8 kind][u8 0][u32 LE json bytes][json][blobs]
// The JSON part is { "m": fields, "b": [byte length of each blob] }; the blobs follow it in order.
import { endianness } from 'node:os';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SqlState, VectorgateError } from '../errors.ts';

export const FRAME_VERSION = 1;
const HEADER_BYTES = 8;
const GZIP = 1;
const LITTLE_ENDIAN_HOST = endianness() === 'LE';

export const FrameKind = { Request: 1, Result: 2, Error: 3, SnapshotChunk: 4, SnapshotEnd: 5, Ping: 6 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export interface FrameLimits {
  /** Largest frame encoded or accepted, gzip'd or not (grpcMaxMessageBytes). */
  maxBytes: number;
  /** Frames at least this large are gzip'd; 0 = never (grpcGzipMinBytes). */
  gzipMinBytes: number;
}

export interface Frame { kind: FrameKind; fields: unknown; blobs: Buffer[] }

export function malformed(what: string): VectorgateError {
  return new VectorgateError(SqlState.ProtocolViolation, `malformed worker message: ${what}`);
}

function tooLarge(bytes: number, limits: FrameLimits): VectorgateError {
  return new VectorgateError(SqlState.ProgramLimitExceeded,
    `worker message of ${bytes} bytes exceeds the limit of ${limits.maxBytes} bytes (grpcMaxMessageBytes)`,
    { hint: 'Use smaller batches or a smaller k, or raise grpcMaxMessageBytes on proxies and workers alike.' });
}

export function encodeFrame(frame: Frame, limits: FrameLimits): Buffer {
  const json = Buffer.from(JSON.stringify({ m: frame.fields, b: frame.blobs.map((b) => b.length) }), 'utf8');
  const bodyBytes = json.length + frame.blobs.reduce((sum, b) => sum + b.length, 0);
  // Checked before gzip too: the receiver inflates it to this size, and must not be asked to.
  if (HEADER_BYTES + bodyBytes > limits.maxBytes) throw tooLarge(HEADER_BYTES + bodyBytes, limits);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt8(FRAME_VERSION, 0);
  header.writeUInt8(frame.kind, 2);
  header.writeUInt32LE(json.length, 4);
  if (limits.gzipMinBytes === 0 || HEADER_BYTES + bodyBytes < limits.gzipMinBytes) return Buffer.concat([header, json, ...frame.blobs]);
  header.writeUInt8(GZIP, 1);
  return Buffer.concat([header, gzipSync(Buffer.concat([json, ...frame.blobs]), { level: 1 })]);
}

export function decodeFrame(data: Buffer, limits: FrameLimits): Frame {
  if (data.length > limits.maxBytes) throw tooLarge(data.length, limits);
  if (data.length < HEADER_BYTES) throw malformed(`${data.length} bytes is shorter than its header`);
  const version = data.readUInt8(0);
  if (version !== FRAME_VERSION) throw malformed(`version ${version}, expected ${FRAME_VERSION}`);
  const flags = data.readUInt8(1);
  if ((flags & ~GZIP) !== 0 || data.readUInt8(3) !== 0) throw malformed(`unknown flags ${flags}`);
  const kind = data.readUInt8(2);
  if (!Object.values(FrameKind).includes(kind as FrameKind)) throw malformed(`unknown kind ${kind}`);
  const jsonBytes = data.readUInt32LE(4);
  const body = (flags & GZIP) === 0 ? data.subarray(HEADER_BYTES) : inflate(data.subarray(HEADER_BYTES), limits);
  if (jsonBytes > body.length) throw malformed(`its JSON part (${jsonBytes} bytes) is longer than the message`);
  const parts = parseJson(body.subarray(0, jsonBytes));
  return { kind: kind as FrameKind, fields: parts.m, blobs: sliceBlobs(body.subarray(jsonBytes), parts.b) };
}

function inflate(data: Buffer, limits: FrameLimits): Buffer {
  try {
    return gunzipSync(data, { maxOutputLength: limits.maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(limits.maxBytes + 1, limits);
    throw malformed(`bad gzip data (${err instanceof Error ? err.message : String(err)})`);
  }
}

function parseJson(data: Buffer): { m: unknown; b: number[] } {
  let parsed: unknown;
  try { parsed = JSON.parse(data.toString('utf8')); } catch { throw malformed('its JSON part does not parse'); }
  if (typeof parsed !== 'object' || parsed === null || !('m' in parsed) || !('b' in parsed)) throw malformed('its JSON part lacks m or b');
  const { m, b } = parsed as { m: unknown; b: unknown };
  if (!Array.isArray(b) || !b.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)) throw malformed('blob lengths are not non-negative integers');
  return { m, b: b as number[] };
}

function sliceBlobs(data: Buffer, lengths: number[]): Buffer[] {
  const total = lengths.reduce((sum, n) => sum + n, 0);
  if (total !== data.length) throw malformed(`its blobs declare ${total} bytes but ${data.length} follow`);
  let offset = 0;
  return lengths.map((n) => data.subarray(offset, (offset += n)));
}

/** The raw little-endian bytes of a float array (a copy: the array may be reused by its owner). */
export function floatBytes(values: Float32Array | Float64Array): Buffer {
  const out = Buffer.alloc(values.byteLength);
  if (LITTLE_ENDIAN_HOST) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    return out;
  }
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  values.forEach((v, i) => (values instanceof Float32Array ? view.setFloat32(i * 4, v, true) : view.setFloat64(i * 8, v, true)));
  return out;
}

export function float32sOf(blob: Buffer | undefined, what: string): Float32Array {
  if (blob === undefined) throw malformed(`${what} is missing`);
  if (blob.length % 4 !== 0) throw malformed(`${what} has ${blob.length} bytes, not a multiple of 4`);
  const out = new Float32Array(blob.length / 4);
  if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer).set(blob);
  else for (let i = 0; i < out.length; i++) out[i] = blob.readFloatLE(i * 4);
  return out;
}

export function float64sOf(blob: Buffer | undefined, what: string): Float64Array {
  if (blob === undefined) throw malformed(`${what} is missing`);
  if (blob.length % 8 !== 0) throw malformed(`${what} has ${blob.length} bytes, not a multiple of 8`);
  const out = new Float64Array(blob.length / 8);
  if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer).set(blob);
  else for (let i = 0; i < out.length; i++) out[i] = blob.readDoubleLE(i * 8);
  return out;
}

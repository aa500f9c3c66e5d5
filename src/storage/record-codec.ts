// One log record = one batch of writes to one shard:
//   [u32 body length][u64 seq][u32 crc32c of seq and body][body]       (little-endian)
// body = [u8 version][u32 dims][u32 op count] then per op, in order:
//   upsert: [u8 1][u16 id length][id utf8][u32 payload length][payload JSON utf8][f32 × dims]
//   delete: [u8 2][u16 id length][id utf8]
// Version 1 is a batch that commits by itself. Version 2 is a *prepared* part of a multi-shard batch:
// [u8 2][u64 txid] and then the same fields; it takes effect only if the collection's decision log
// holds a commit for txid (storage/decision-log.ts), and is skipped otherwise.
// The checksum covers the sequence number so that a record copied to the wrong place is caught.
import { crc32c } from '@node-rs/crc32';

export const HEADER_BYTES = 16;
const VERSION = 1;
const VERSION_PREPARED = 2;
const OP_UPSERT = 1;
const OP_DELETE = 2;
/** A body length no sane record has: guards the reader against treating garbage as a huge record. */
export const MAX_BODY_BYTES = 1024 * 1024 * 1024;

export type Op =
  | { op: 'upsert'; id: string; vector: Float32Array; payload: string | null }
  | { op: 'delete'; id: string };

export interface LogRecord {
  seq: number;
  ops: Op[];
}

/** A record body; with txid, a prepared part of that multi-shard transaction. */
export function encodeBody(dims: number, ops: readonly Op[], txid: number | null = null): Buffer {
  const ids = ops.map((o) => Buffer.from(o.id, 'utf8'));
  const payloads = ops.map((o) => (o.op === 'upsert' && o.payload !== null ? Buffer.from(o.payload, 'utf8') : null));
  const prefix = txid === null ? 0 : 8;
  let size = 9 + prefix;
  ops.forEach((o, i) => {
    size += 3 + ids[i]!.length;
    if (o.op === 'upsert') size += 4 + (payloads[i]?.length ?? 0) + 4 * dims;
  });
  const body = Buffer.allocUnsafe(size);
  let at = body.writeUInt8(txid === null ? VERSION : VERSION_PREPARED, 0);
  if (txid !== null) at = writeTxid(body, txid, at);
  at = body.writeUInt32LE(dims, at);
  at = body.writeUInt32LE(ops.length, at);
  ops.forEach((o, i) => {
    const id = ids[i]!;
    if (id.length > 0xffff) throw new RangeError('id longer than 65535 bytes');
    at = body.writeUInt8(o.op === 'upsert' ? OP_UPSERT : OP_DELETE, at);
    at = body.writeUInt16LE(id.length, at);
    at += id.copy(body, at);
    if (o.op !== 'upsert') return;
    if (o.vector.length !== dims) throw new RangeError(`vector of ${o.vector.length} values in a ${dims}-dimension record`);
    const payload = payloads[i];
    at = body.writeUInt32LE(payload === null ? 0xffff_ffff : payload!.length, at);
    if (payload) at += payload.copy(body, at);
    at += Buffer.from(o.vector.buffer, o.vector.byteOffset, o.vector.byteLength).copy(body, at);
  });
  if (at !== size) throw new Error(`record body size ${at} != ${size}`);
  return body;
}

export function checksum(seq: number, body: Uint8Array): number {
  const seqBytes = Buffer.allocUnsafe(8);
  seqBytes.writeBigUInt64LE(BigInt(seq));
  return crc32c(body, crc32c(seqBytes));
}

export function encodeHeader(seq: number, body: Uint8Array): Buffer {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`bad sequence number ${seq}`);
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32LE(body.length, 0);
  header.writeBigUInt64LE(BigInt(seq), 4);
  header.writeUInt32LE(checksum(seq, body), 12);
  return header;
}

function writeTxid(body: Buffer, txid: number, at: number): number {
  if (!Number.isSafeInteger(txid) || txid < 1) throw new RangeError(`bad transaction id ${txid}`);
  return body.writeBigUInt64LE(BigInt(txid), at);
}

/** The transaction id of a prepared record, null for one that commits by itself (reads 9 bytes). */
export function txidOf(body: Buffer): number | null {
  const version = body.readUInt8(0);
  if (version === VERSION) return null;
  if (version !== VERSION_PREPARED) throw new Error(`unknown record version ${version}`);
  return Number(body.readBigUInt64LE(1));
}

/** The record's ops; `txid` is present only for a prepared record. */
export function decodeBody(body: Buffer): { dims: number; ops: Op[]; txid?: number } {
  const txid = txidOf(body);
  const start = txid === null ? 1 : 9;
  const dims = body.readUInt32LE(start);
  const count = body.readUInt32LE(start + 4);
  const ops: Op[] = [];
  let at = start + 8;
  for (let i = 0; i < count; i++) {
    const kind = body.readUInt8(at);
    const idLength = body.readUInt16LE(at + 1);
    const id = body.toString('utf8', at + 3, at + 3 + idLength);
    at += 3 + idLength;
    if (kind === OP_DELETE) { ops.push({ op: 'delete', id }); continue; }
    if (kind !== OP_UPSERT) throw new Error(`unknown op ${kind}`);
    const payloadLength = body.readUInt32LE(at);
    at += 4;
    let payload: string | null = null;
    if (payloadLength !== 0xffff_ffff) {
      payload = body.toString('utf8', at, at + payloadLength);
      at += payloadLength;
    }
    if (at + 4 * dims > body.length) throw new Error('record body ends inside a vector');
    const vector = new Float32Array(dims);
    Buffer.from(vector.buffer).set(body.subarray(at, at + 4 * dims));
    at += 4 * dims;
    ops.push({ op: 'upsert', id, vector, payload });
  }
  if (at !== body.length) throw new Error(`record body has ${body.length - at} trailing bytes`);
  return txid === null ? { dims, ops } : { dims, ops, txid };
}

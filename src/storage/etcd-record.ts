// One record of a shard's log in etcd, the value of key log/<dir>/<shard>/r/<seq, 20 digits>:
//   [u8 version=1][16 bytes request id][u32 body length][u64 seq][u32 crc32c of (seq, request id, body)][body]
// little-endian; body = a record-codec body (decodeBody / txidOf read it). The request id lets a
// writer that lost the answer to its transaction tell whether it committed; the CRC covers the seq
// and the reader checks it against the key, so a record in the wrong place is caught.
import { crc32c } from '@node-rs/crc32';
import { SqlState, VectorgateError } from '../errors.ts';

const VERSION = 1;
export const REQUEST_ID_BYTES = 16;
export const ETCD_RECORD_HEADER_BYTES = 1 + REQUEST_ID_BYTES + 4 + 8 + 4;
const SEQ_DIGITS = 20;

export interface EtcdRecord { seq: number; requestId: Buffer; body: Buffer }

/** The key suffix of record seq: zero-padded so that etcd's byte order is seq order. */
export function recordKeySuffix(seq: number): string {
  return `r/${String(seq).padStart(SEQ_DIGITS, '0')}`;
}

/** The seq a record key ends with (the reader compares it with the value's). */
export function seqOfRecordKey(key: string): number {
  return Number(key.slice(-SEQ_DIGITS));
}

export function encodeEtcdRecord(seq: number, requestId: Buffer, body: Buffer): Buffer {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`bad sequence number ${seq}`);
  if (requestId.length !== REQUEST_ID_BYTES) throw new RangeError(`a request id has ${REQUEST_ID_BYTES} bytes, not ${requestId.length}`);
  const value = Buffer.allocUnsafe(ETCD_RECORD_HEADER_BYTES + body.length);
  let at = value.writeUInt8(VERSION, 0);
  at += requestId.copy(value, at);
  at = value.writeUInt32LE(body.length, at);
  at = value.writeBigUInt64LE(BigInt(seq), at);
  at = value.writeUInt32LE(recordChecksum(seq, requestId, body), at);
  body.copy(value, at);
  return value;
}

/** Decodes the value stored under `key`; XX001 when it is damaged or belongs to another seq. */
export function decodeEtcdRecord(key: string, value: Buffer): EtcdRecord {
  const keySeq = seqOfRecordKey(key);
  if (value.length < ETCD_RECORD_HEADER_BYTES) throw damaged(key, `value of ${value.length} bytes is shorter than a record header`);
  const version = value.readUInt8(0);
  if (version !== VERSION) throw damaged(key, `unknown record version ${version}`);
  const requestId = value.subarray(1, 1 + REQUEST_ID_BYTES);
  let at = 1 + REQUEST_ID_BYTES;
  const length = value.readUInt32LE(at);
  const seq = Number(value.readBigUInt64LE(at + 4));
  const crc = value.readUInt32LE(at + 12);
  at += 16;
  if (value.length !== at + length) throw damaged(key, `body of ${value.length - at} bytes, header says ${length}`);
  const body = value.subarray(at);
  if (crc !== recordChecksum(seq, requestId, body)) throw damaged(key, 'checksum mismatch');
  if (seq !== keySeq) throw damaged(key, `holds the record of seq ${seq}`);
  return { seq, requestId, body };
}

/** Only the request id (for the idempotency check after an unknown outcome; no CRC check needed there). */
export function requestIdOf(value: Buffer): Buffer | null {
  return value.length >= ETCD_RECORD_HEADER_BYTES && value.readUInt8(0) === VERSION ? value.subarray(1, 1 + REQUEST_ID_BYTES) : null;
}

function recordChecksum(seq: number, requestId: Buffer, body: Buffer): number {
  const seqBytes = Buffer.allocUnsafe(8);
  seqBytes.writeBigUInt64LE(BigInt(seq));
  return crc32c(body, crc32c(requestId, crc32c(seqBytes)));
}

function damaged(key: string, reason: string): VectorgateError {
  return new VectorgateError(SqlState.DataCorrupted, `etcd log record "${key}" is damaged: ${reason}`);
}

// Reading a write-ahead log segment: walk its records, verify each checksum and sequence number, and
// tell a torn tail (a crash in the middle of the last write: cut it off) from corruption (refuse).
import { SqlState, VectorgateError } from '../errors.ts';
import { checksum, HEADER_BYTES, MAX_BODY_BYTES } from './record-codec.ts';

export interface RawRecord {
  seq: number;
  body: Buffer;
  offset: number;
}

export interface SegmentScan {
  records: RawRecord[];
  /** Where the valid records end; less than the file size when a torn tail follows. */
  validBytes: number;
}

type Parsed = { ok: true; record: RawRecord; end: number } | { ok: false; reason: string };

function parseAt(buf: Buffer, offset: number, expectedSeq: number | null): Parsed {
  if (buf.length - offset < HEADER_BYTES) return { ok: false, reason: 'incomplete record header' };
  const length = buf.readUInt32LE(offset);
  const seq = Number(buf.readBigUInt64LE(offset + 4));
  const crc = buf.readUInt32LE(offset + 12);
  if (length > MAX_BODY_BYTES) return { ok: false, reason: `implausible record length ${length}` };
  const end = offset + HEADER_BYTES + length;
  if (end > buf.length) return { ok: false, reason: 'record runs past the end of the file' };
  const body = buf.subarray(offset + HEADER_BYTES, end);
  if (checksum(seq, body) !== crc) return { ok: false, reason: 'bad checksum' };
  if (expectedSeq !== null && seq !== expectedSeq) {
    return { ok: false, reason: `sequence number ${seq} where ${expectedSeq} was expected` };
  }
  return { ok: true, record: { seq, body, offset }, end };
}

/** True when some intact record with a later sequence number starts after `from`: then the bad bytes are not a tail. */
function intactRecordAfter(buf: Buffer, from: number, afterSeq: number): boolean {
  for (let at = from + 1; at + HEADER_BYTES <= buf.length; at++) {
    const seq = Number(buf.readBigUInt64LE(at + 4));
    if (seq <= afterSeq || seq > afterSeq + buf.length) continue;
    if (parseAt(buf, at, null).ok) return true;
  }
  return false;
}

export function corrupted(file: string, offset: number, reason: string): VectorgateError {
  return new VectorgateError(SqlState.DataCorrupted,
    `write-ahead log ${file} is corrupted at byte offset ${offset}: ${reason}; refusing to start`,
    { severity: 'FATAL', hint: 'restore the shard from a replica or a backup; the log is not modified' });
}

/**
 * `firstSeq` is the sequence number the segment's name promises. Only the last segment may have a torn
 * tail: earlier segments were complete and fsync'd before the next one was created.
 */
export function scanSegment(file: string, buf: Buffer, firstSeq: number, isLast: boolean): SegmentScan {
  const records: RawRecord[] = [];
  let offset = 0;
  let expected = firstSeq;
  while (offset < buf.length) {
    const parsed = parseAt(buf, offset, expected);
    if (!parsed.ok) {
      if (isLast && !intactRecordAfter(buf, offset, expected - 1)) return { records, validBytes: offset };
      throw corrupted(file, offset, parsed.reason);
    }
    records.push(parsed.record);
    offset = parsed.end;
    expected++;
  }
  return { records, validBytes: offset };
}

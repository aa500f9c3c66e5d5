// Splits one shard's part of a write into record-codec bodies of at most maxBodyBytes each, in op
// order, for logs with a record size limit (the etcd log's etcdRecordMaxBytes): the bodies become
// consecutive records appended in one transaction, so the part still applies all or nothing.
import { SqlState, VectorgateError } from '../errors.ts';
import { encodeBody, type Op } from './record-codec.ts';

/** Bytes an op takes in a body (record-codec.ts's layout). */
function opBytes(dims: number, op: Op): number {
  const id = Buffer.byteLength(op.id, 'utf8');
  if (op.op === 'delete') return 3 + id;
  return 3 + id + 4 + (op.payload === null ? 0 : Buffer.byteLength(op.payload, 'utf8')) + 4 * dims;
}

export function encodeBodies(dims: number, ops: readonly Op[], maxBodyBytes: number, txid: number | null = null): Buffer[] {
  const headerBytes = 9 + (txid === null ? 0 : 8);
  const bodies: Buffer[] = [];
  let chunk: Op[] = [];
  let chunkBytes = headerBytes;
  for (const op of ops) {
    const size = opBytes(dims, op);
    if (headerBytes + size > maxBodyBytes) {
      throw new VectorgateError(SqlState.ProgramLimitExceeded, `the row with id "${op.id.slice(0, 64)}" takes ${headerBytes + size} bytes in the log, over its record limit of ${maxBodyBytes} bytes`);
    }
    if (chunkBytes + size > maxBodyBytes) {
      bodies.push(encodeBody(dims, chunk, txid));
      chunk = [];
      chunkBytes = headerBytes;
    }
    chunk.push(op);
    chunkBytes += size;
  }
  if (chunk.length > 0 || bodies.length === 0) bodies.push(encodeBody(dims, chunk, txid));
  return bodies;
}

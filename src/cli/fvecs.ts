// TEXMEX .fvecs/.ivecs files (the ANN benchmark format): per row a little-endian int32 `dim`, then
// `dim` float32 (fvecs) or int32 (ivecs) values; no header, so the row count is size / (4 × (dim + 1)).
// http://corpus-texmex.irisa.fr/
import { createReadStream, openSync, readSync, closeSync, fstatSync, readFileSync } from 'node:fs';

export interface VecsShape { dims: number; rows: number; bytes: number }

/** Dimensions and row count from the first 4 bytes and the file size; rejects a size that does not fit. */
export function vecsShape(path: string): VecsShape {
  const fd = openSync(path, 'r');
  try {
    const bytes = fstatSync(fd).size;
    if (bytes === 0) return { dims: 0, rows: 0, bytes };
    const head = Buffer.alloc(4);
    if (readSync(fd, head, 0, 4, 0) !== 4) throw new Error(`${path}: shorter than one row header`);
    const dims = head.readInt32LE(0);
    if (dims <= 0 || dims > 1 << 20) throw new Error(`${path}: first row claims ${dims} dimensions: not a .fvecs/.ivecs file`);
    const rowBytes = 4 * (dims + 1);
    if (bytes % rowBytes !== 0) throw new Error(`${path}: size ${bytes} is not a multiple of the row size ${rowBytes} (${dims} dimensions)`);
    return { dims, rows: bytes / rowBytes, bytes };
  } finally {
    closeSync(fd);
  }
}

/** The first `limit` rows, back to back in one array (what an index's batch add takes). */
export function readVecs(path: string, kind: 'f', limit?: number): { dims: number; rows: number; data: Float32Array };
export function readVecs(path: string, kind: 'i', limit?: number): { dims: number; rows: number; data: Int32Array };
export function readVecs(path: string, kind: 'f' | 'i', limit = Infinity): { dims: number; rows: number; data: Float32Array | Int32Array } {
  const { dims, rows: total } = vecsShape(path);
  const rows = Math.min(limit, total);
  const buf = readFileSync(path);
  const rowBytes = 4 * (dims + 1);
  const data = kind === 'f' ? new Float32Array(rows * dims) : new Int32Array(rows * dims);
  for (let r = 0; r < rows; r++) {
    const at = r * rowBytes + 4;
    if (buf.readInt32LE(at - 4) !== dims) throw new Error(`${path}: row ${r} has ${buf.readInt32LE(at - 4)} dimensions, expected ${dims}`);
    // Rows sit at offsets that are multiples of 4 but the Buffer's pool offset may not be: copy bytewise.
    const bytes = new Uint8Array(data.buffer, r * dims * 4, dims * 4);
    bytes.set(buf.subarray(at, at + dims * 4));
  }
  return { dims, rows, data };
}

export interface VecsChunk {
  /** Row number of the chunk's first row. */
  first: number;
  rows: number;
  /** `rows` × dims float32 values. */
  data: Float32Array;
  /** File bytes the chunk covers. */
  bytes: number;
}

/** Streams an .fvecs file in chunks of whole rows, without holding the file in memory. */
export async function* fvecsChunks(path: string, dims: number): AsyncGenerator<VecsChunk> {
  const rowBytes = 4 * (dims + 1);
  let carry = Buffer.alloc(0);
  let first = 0;
  for await (const piece of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const buf = carry.length === 0 ? piece : Buffer.concat([carry, piece]);
    const rows = Math.floor(buf.length / rowBytes);
    const data = new Float32Array(rows * dims);
    const bytes = new Uint8Array(data.buffer);
    for (let r = 0; r < rows; r++) {
      const at = r * rowBytes;
      if (buf.readInt32LE(at) !== dims) throw new Error(`${path}: row ${first + r} has ${buf.readInt32LE(at)} dimensions, expected ${dims}`);
      bytes.set(buf.subarray(at + 4, at + rowBytes), r * dims * 4);
    }
    carry = Buffer.from(buf.subarray(rows * rowBytes));
    if (rows > 0) yield { first, rows, data, bytes: rows * rowBytes };
    first += rows;
  }
  if (carry.length > 0) throw new Error(`${path}: ${carry.length} bytes of a partial row at the end`);
}

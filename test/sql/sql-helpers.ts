// Encoders the SQL tests send by hand: array_send of real[]/float8[] (a binary vector parameter) and
// COPY's binary format; and a reader for the TEXMEX .fvecs/.ivecs files of ../shared/data.
import { readFileSync } from 'node:fs';

/** array_send of a one-dimensional float4[] or float8[] without nulls. */
export function arraySend(values: ArrayLike<number>, type: 'float4' | 'float8'): Buffer {
  const size = type === 'float4' ? 4 : 8;
  const b = Buffer.alloc(20 + values.length * (4 + size));
  b.writeInt32BE(1, 0);
  b.writeInt32BE(0, 4);
  b.writeUInt32BE(type === 'float4' ? 700 : 701, 8);
  b.writeInt32BE(values.length, 12);
  b.writeInt32BE(1, 16);
  let at = 20;
  for (let i = 0; i < values.length; i++) {
    b.writeInt32BE(size, at);
    if (size === 4) b.writeFloatBE(values[i]!, at + 4);
    else b.writeDoubleBE(values[i]!, at + 4);
    at += 4 + size;
  }
  return b;
}

/** COPY binary data for (id text, vector real[], payload jsonb) rows, with header and trailer. */
export function copyBinary(rows: [string, ArrayLike<number>, string | null][]): Buffer {
  const parts: Buffer[] = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)];
  for (const [id, vector, payload] of rows) {
    const count = Buffer.alloc(2);
    count.writeInt16BE(3);
    const fields = [Buffer.from(id, 'utf8'), arraySend(vector, 'float4'), payload === null ? null : Buffer.concat([Buffer.from([1]), Buffer.from(payload, 'utf8')])];
    parts.push(count);
    for (const field of fields) {
      const len = Buffer.alloc(4);
      len.writeInt32BE(field === null ? -1 : field.length);
      parts.push(len);
      if (field !== null) parts.push(field);
    }
  }
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1);
  parts.push(trailer);
  return Buffer.concat(parts);
}

/** Rows of a .fvecs (float32) or .ivecs (int32) file: little-endian dim, then dim values, per row. */
export function readVecs(path: string, kind: 'f' | 'i', limit = Infinity): Float32Array[] | Int32Array[] {
  const buf = readFileSync(path);
  const dim = buf.readInt32LE(0);
  const n = Math.min(limit, buf.length / (4 * (dim + 1)));
  const rows = [];
  for (let r = 0; r < n; r++) {
    const at = r * 4 * (dim + 1) + 4;
    const copy = buf.buffer.slice(buf.byteOffset + at, buf.byteOffset + at + dim * 4);
    rows.push(kind === 'f' ? new Float32Array(copy) : new Int32Array(copy));
  }
  return rows as Float32Array[] | Int32Array[];
}

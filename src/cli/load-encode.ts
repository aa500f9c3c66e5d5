// COPY's binary format for rows of (id text, vector, [payload jsonb]), the form `vectorgate load` sends.
// The vector travels as pgvector's vector_send (int16 dims, int16 0, float4 × dims, big-endian): half
// the bytes of a real[] array_send, and the same bytes pgvector's own COPY takes.
// https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4
import { COPY_BINARY_SIGNATURE } from '../sql/copy-format.ts';

/** Signature, flags (0) and header extension length (0). */
export function binaryHeader(): Buffer {
  return Buffer.concat([COPY_BINARY_SIGNATURE, Buffer.alloc(8)]);
}

/** The int16 -1 that ends binary COPY data. */
export function binaryTrailer(): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(-1, 0);
  return b;
}

/**
 * One row. `payload` undefined leaves the column out (a 2-column COPY); null sends SQL NULL.
 * `vector` may be a view into a larger array: only `dims` values from `offset` are read.
 */
export function binaryRow(id: string, vector: ArrayLike<number>, payload?: string | null, offset = 0, dims = vector.length - offset): Buffer {
  const idBytes = Buffer.byteLength(id);
  const payloadBytes = payload == null ? 0 : Buffer.byteLength(payload);
  const columns = payload === undefined ? 2 : 3;
  const size = 2 + 4 + idBytes + 4 + 4 + 4 * dims + (columns === 3 ? 4 + (payload === null ? 0 : 1 + payloadBytes) : 0);
  const b = Buffer.allocUnsafe(size);
  let at = b.writeInt16BE(columns, 0);
  at = b.writeInt32BE(idBytes, at);
  at += b.write(id, at);
  at = b.writeInt32BE(4 + 4 * dims, at);
  at = b.writeUInt16BE(dims, at);
  at = b.writeUInt16BE(0, at);
  for (let i = 0; i < dims; i++) at = b.writeFloatBE(vector[offset + i]!, at);
  if (columns === 3) {
    if (payload === null) {
      b.writeInt32BE(-1, at);
    } else {
      // jsonb's binary form: version byte 1, then the JSON text.
      at = b.writeInt32BE(1 + payloadBytes, at);
      at = b.writeUInt8(1, at);
      b.write(payload!, at);
    }
  }
  return b;
}

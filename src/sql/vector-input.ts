// Vectors as clients send them: pgvector's text form `[1,2,3]`, PostgreSQL array text `{1,2,3}` (also
// with quoted elements, as node-postgres and pgjdbc write arrays), array_send's binary form of real[] or
// float8[], and pgvector's vector_send. Errors use pgvector's messages and SQLSTATEs
// (https://github.com/pgvector/pgvector/blob/master/src/vector.c): 22P02 for text that is not a vector,
// 22000 for NaN, infinity or an empty vector.
import { SqlState, VectorgateError } from '../errors.ts';

const FLOAT4_OID = 700;
const FLOAT8_OID = 701;
const INT4_OID = 23;
const INT8_OID = 20;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$|^[+-]?(nan|infinity|inf)$/i;

function malformed(text: string, detail?: string): VectorgateError {
  const shown = text.length > 100 ? `${text.slice(0, 100)}...` : text;
  return new VectorgateError(SqlState.InvalidTextRepresentation, `invalid input syntax for type vector: "${shown}"`, detail ? { detail } : {});
}

/** Rejects what pgvector rejects; dimensions are checked against the collection later. */
export function checkFinite(values: Float32Array): Float32Array {
  if (values.length === 0) throw new VectorgateError(SqlState.DataException, 'vector must have at least 1 dimension');
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) throw new VectorgateError(SqlState.DataException, 'NaN not allowed in vector');
    if (!Number.isFinite(v)) throw new VectorgateError(SqlState.DataException, 'infinite value not allowed in vector');
  }
  return values;
}

/** `[1,2,3]` or `{1,2,3}` (elements may be double-quoted; whitespace around them is ignored). */
export function parseVectorText(text: string): Float32Array {
  const body = text.trim();
  const open = body[0];
  const close = open === '[' ? ']' : open === '{' ? '}' : null;
  if (close === null) throw malformed(text, 'Vector contents must start with "[".');
  if (body[body.length - 1] !== close) throw malformed(text, `Vector contents must end with "${close}".`);
  const inner = body.slice(1, -1).trim();
  if (inner === '') throw new VectorgateError(SqlState.DataException, 'vector must have at least 1 dimension');
  const parts = inner.split(',');
  const out = new Float32Array(parts.length);
  for (let i = 0; i < parts.length; i++) {
    let element = parts[i]!.trim();
    if (open === '{' && element.length >= 2 && element[0] === '"' && element[element.length - 1] === '"') element = element.slice(1, -1).trim();
    if (!NUMBER.test(element)) throw malformed(text);
    out[i] = Number(/^[+-]?inf$/i.test(element) ? element.replace(/inf$/i, 'Infinity') : element);
  }
  return checkFinite(out);
}

/**
 * array_send of a one-dimensional real[] / float8[] / int4[] / int8[] without nulls, or pgvector's
 * vector_send (int16 dims, int16 unused, float4 × dims). The two cannot be confused: an array starts with
 * ndim = 1 as int32, a vector with its dimension count in the high 16 bits.
 * https://github.com/postgres/postgres/blob/master/src/backend/utils/adt/arrayfuncs.c (array_recv)
 */
export function parseVectorBinary(buf: Buffer): Float32Array {
  if (buf.length >= 4 && buf.readInt32BE(0) === 1) return parseArrayBinary(buf);
  if (buf.length >= 4 && buf.readUInt16BE(2) === 0) {
    const dims = buf.readUInt16BE(0);
    if (buf.length !== 4 + dims * 4) throw badBinary('vector length does not match its dimension count');
    const out = new Float32Array(dims);
    for (let i = 0; i < dims; i++) out[i] = buf.readFloatBE(4 + i * 4);
    return checkFinite(out);
  }
  if (buf.length >= 12 && buf.readInt32BE(0) === 0) throw new VectorgateError(SqlState.DataException, 'vector must have at least 1 dimension');
  throw badBinary('expected a one-dimensional real[] or float8[] in array_send format');
}

function badBinary(detail: string): VectorgateError {
  return new VectorgateError(SqlState.InvalidBinaryRepresentation, 'incorrect binary data format in vector parameter', { detail });
}

function parseArrayBinary(buf: Buffer): Float32Array {
  if (buf.length < 20) throw badBinary('array header is truncated');
  const elemType = buf.readUInt32BE(8);
  const count = buf.readInt32BE(12);
  const size = elemType === FLOAT4_OID || elemType === INT4_OID ? 4 : elemType === FLOAT8_OID || elemType === INT8_OID ? 8 : 0;
  if (size === 0) throw badBinary(`array element type ${elemType} is not real, double precision or integer`);
  if (count < 0 || buf.length !== 20 + count * (4 + size)) throw badBinary('array length does not match its element count');
  const out = new Float32Array(count);
  let offset = 20;
  for (let i = 0; i < count; i++) {
    const len = buf.readInt32BE(offset);
    if (len === -1) throw new VectorgateError(SqlState.NullValueNotAllowed, 'array must not contain nulls');
    if (len !== size) throw badBinary('array element has the wrong length');
    out[i] = readElement(buf, offset + 4, elemType);
    offset += 4 + size;
  }
  return checkFinite(out);
}

function readElement(buf: Buffer, at: number, elemType: number): number {
  switch (elemType) {
    case FLOAT4_OID: return buf.readFloatBE(at);
    case FLOAT8_OID: return buf.readDoubleBE(at);
    case INT4_OID: return buf.readInt32BE(at);
    default: return Number(buf.readBigInt64BE(at));
  }
}

/** A vector from a JSON value: an array of numbers, or pgvector/array text (used by the batch upsert). */
export function vectorFromJson(value: unknown): Float32Array {
  if (typeof value === 'string') return parseVectorText(value);
  if (!Array.isArray(value) || !value.every((x) => typeof x === 'number')) {
    throw new VectorgateError(SqlState.InvalidParameterValue, 'vector must be an array of numbers or vector text');
  }
  return checkFinite(Float32Array.from(value));
}

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
  return parsePlainDecimals(text) ?? parseVectorTextSlowly(text);
}

const enum Char { Space = 32, Plus = 43, Comma = 44, Minus = 45, Dot = 46, Zero = 48, Nine = 57, E = 69, LowerE = 101, OpenBracket = 91, CloseBracket = 93 }

/**
 * The common case — `[` plain decimal numbers `]`, as every driver and pgvector's output write them —
 * in one pass without regular expressions or intermediate strings but the numbers' own (a query
 * vector's text was 44 µs the slow way, a tenth of a search). Null for anything else (quotes, braces,
 * nan/inf, tabs, any error): the slow path then parses it or raises the right error.
 */
function parsePlainDecimals(text: string): Float32Array | null {
  const end = text.length - 1;
  if (end < 2 || text.charCodeAt(0) !== Char.OpenBracket || text.charCodeAt(end) !== Char.CloseBracket) return null;
  let count = 1;
  for (let at = text.indexOf(',', 1); at !== -1; at = text.indexOf(',', at + 1)) count++;
  const out = new Float32Array(count);
  let start = 1;
  for (let i = 0; i < count; i++) {
    let stop = i === count - 1 ? end : text.indexOf(',', start);
    while (start < stop && text.charCodeAt(start) === Char.Space) start++;
    while (stop > start && text.charCodeAt(stop - 1) === Char.Space) stop--;
    if (!isPlainDecimal(text, start, stop)) return null;
    out[i] = Number(text.slice(start, stop));
    start = (i === count - 1 ? end : text.indexOf(',', start)) + 1;
  }
  for (let i = 0; i < count; i++) if (!Number.isFinite(out[i]!)) return null;
  return out;
}

/** [+-] digits [. digits] [e [+-] digits], with at least one mantissa digit (what NUMBER accepts, minus nan/inf). */
function isPlainDecimal(text: string, from: number, to: number): boolean {
  let at = from;
  let c = text.charCodeAt(at);
  if (c === Char.Plus || c === Char.Minus) c = text.charCodeAt(++at);
  let digits = 0;
  while (at < to && c >= Char.Zero && c <= Char.Nine) { digits++; c = text.charCodeAt(++at); }
  if (at < to && c === Char.Dot) {
    c = text.charCodeAt(++at);
    while (at < to && c >= Char.Zero && c <= Char.Nine) { digits++; c = text.charCodeAt(++at); }
  }
  if (digits === 0) return false;
  if (at < to && (c === Char.E || c === Char.LowerE)) {
    c = text.charCodeAt(++at);
    if (c === Char.Plus || c === Char.Minus) c = text.charCodeAt(++at);
    let exponent = 0;
    while (at < to && c >= Char.Zero && c <= Char.Nine) { exponent++; c = text.charCodeAt(++at); }
    if (exponent === 0) return false;
  }
  return at === to;
}

function parseVectorTextSlowly(text: string): Float32Array {
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

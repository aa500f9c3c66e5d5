// Decoding one argument value (a Bind parameter, or a constant from the statement turned into text)
// into what a function needs. Binary forms follow each type's *recv function; the declared parameter
// type is not needed because every binary form accepted here tells itself apart (by length, or by
// jsonb's version byte).
import { SqlState, VectorgateError } from '../errors.ts';
import type { ParamValue } from './local-plan.ts';
import { parseVectorBinary, parseVectorText } from './vector-input.ts';
import { decodeClientText } from './client-encoding.ts';

/** What an argument holds; each kind has one parameter type OID that Describe reports for `$n`. */
export type ArgKind = 'text' | 'int' | 'jsonb' | 'vector';

export const KIND_OIDS: Readonly<Record<ArgKind, number>> = { text: 25, int: 23, jsonb: 3802, vector: 1021 };

const INTEGER = /^\s*[+-]?\d+\s*$/;

/** Text in `encoding`: the client's for parameters, UTF8 for constants of the (already decoded) statement. */
export function decodeText(p: ParamValue, encoding = 'UTF8'): string {
  return decodeClientText(p.value!, encoding);
}

/** int2/int4/int8 in either format; also numeric text with no fraction (e.g. a float8 param `10`). */
export function decodeInt(p: ParamValue, what: string): number {
  const buf = p.value!;
  if (p.format === 1) {
    if (buf.length === 2) return buf.readInt16BE(0);
    if (buf.length === 4) return buf.readInt32BE(0);
    if (buf.length === 8) return Number(buf.readBigInt64BE(0));
    throw new VectorgateError(SqlState.InvalidBinaryRepresentation, `incorrect binary data format in parameter ${what}`);
  }
  const text = buf.toString('utf8');
  if (!INTEGER.test(text)) throw new VectorgateError(SqlState.InvalidTextRepresentation, `invalid input syntax for type integer: "${text}"`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new VectorgateError(SqlState.NumericValueOutOfRange, `value "${text.trim()}" is out of range for type bigint`);
  return n;
}

/** JSON text, checked to parse: jsonb binary is a version byte (1) and the text; json binary is the text. */
export function decodeJsonText(p: ParamValue, encoding = 'UTF8'): string {
  const buf = p.value!;
  const text = decodeClientText(p.format === 1 && buf.length > 0 && buf[0] === 1 ? buf.subarray(1) : buf, encoding);
  try {
    JSON.parse(text);
  } catch {
    const shown = text.length > 100 ? `${text.slice(0, 100)}...` : text;
    throw new VectorgateError(SqlState.InvalidTextRepresentation, `invalid input syntax for type json`, { detail: `Token in "${shown}" is invalid.` });
  }
  return text;
}

export function decodeVector(p: ParamValue): Float32Array {
  return p.format === 1 ? parseVectorBinary(p.value!) : parseVectorText(p.value!.toString('utf8'));
}

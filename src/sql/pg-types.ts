// The PostgreSQL types vectorgate's local results use, with their text and binary output forms.
// OIDs from https://github.com/postgres/postgres/blob/master/src/include/catalog/pg_type.dat
// Binary forms follow each type's *send function (e.g. float4send, array_send, jsonb_send).

export interface PgType {
  name: string;
  oid: number;
  /** pg_type.typlen */
  size: number;
  text(value: unknown): string;
  binary(value: unknown): Buffer;
}

function int32Buffer(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(v);
  return b;
}

/** Shortest text that reads back as the same float4, as PostgreSQL 12+ prints it. */
export function float4Text(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  const f = Math.fround(value);
  for (let digits = 1; digits <= 9; digits++) {
    const text = f.toPrecision(digits);
    if (Math.fround(Number(text)) === f) return normaliseExponent(String(Number(text)));
  }
  return String(f);
}

function float8Text(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  return normaliseExponent(String(value));
}

/** JavaScript writes 1e+21, PostgreSQL 1e+21 too, but 1e-7 as 1e-07. */
function normaliseExponent(text: string): string {
  return text.replace(/e([+-])(\d)$/, 'e$10$2');
}

export const TEXT: PgType = {
  name: 'text', oid: 25, size: -1,
  text: (v) => String(v),
  binary: (v) => Buffer.from(String(v), 'utf8'),
};

export const INT4: PgType = {
  name: 'int4', oid: 23, size: 4,
  text: (v) => String(v),
  binary: (v) => int32Buffer(Number(v)),
};

export const INT8: PgType = {
  name: 'int8', oid: 20, size: 8,
  text: (v) => String(v),
  binary: (v) => {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(BigInt(v as number | bigint));
    return b;
  },
};

export const FLOAT4: PgType = {
  name: 'float4', oid: 700, size: 4,
  text: (v) => float4Text(Number(v)),
  binary: (v) => {
    const b = Buffer.allocUnsafe(4);
    b.writeFloatBE(Number(v));
    return b;
  },
};

export const FLOAT8: PgType = {
  name: 'float8', oid: 701, size: 8,
  text: (v) => float8Text(Number(v)),
  binary: (v) => {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(Number(v));
    return b;
  },
};

export const BOOL: PgType = {
  name: 'bool', oid: 16, size: 1,
  text: (v) => (v ? 't' : 'f'),
  binary: (v) => Buffer.from([v ? 1 : 0]),
};

export const JSONB: PgType = {
  name: 'jsonb', oid: 3802, size: -1,
  text: (v) => JSON.stringify(v),
  // jsonb_send: a version byte (1), then the text form.
  binary: (v) => Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify(v), 'utf8')]),
};

/** jsonb whose values are already JSON text (payloads as the engine stores them): written as is. */
export const JSONB_TEXT: PgType = {
  name: 'jsonb', oid: 3802, size: -1,
  text: (v) => String(v),
  binary: (v) => Buffer.concat([Buffer.from([1]), Buffer.from(String(v), 'utf8')]),
};

// timestamptz_send: microseconds since 2000-01-01 00:00 UTC as int8.
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

/** timestamptz from a Date or ISO text; text in ISO style at UTC (`2026-01-02 03:04:05.678+00`). */
export const TIMESTAMPTZ: PgType = {
  name: 'timestamptz', oid: 1184, size: 8,
  text: (v) => new Date(v as string | Date).toISOString().replace('T', ' ').replace(/\.?0*Z$/, '+00'),
  binary: (v) => {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(BigInt(new Date(v as string | Date).getTime() - PG_EPOCH_MS) * 1000n);
    return b;
  },
};

export const VOID: PgType = {
  name: 'void', oid: 2278, size: 4,
  text: () => '',
  binary: () => Buffer.alloc(0),
};

/** real[]: text `{1,2.5}`; binary per array_send with one dimension, no nulls. */
export const FLOAT4_ARRAY: PgType = {
  name: '_float4', oid: 1021, size: -1,
  text: (v) => '{' + Array.from(v as ArrayLike<number>, float4Text).join(',') + '}',
  binary: (v) => {
    const values = v as ArrayLike<number>;
    const b = Buffer.allocUnsafe(20 + values.length * 8);
    b.writeInt32BE(1, 0); // ndim
    b.writeInt32BE(0, 4); // has nulls
    b.writeUInt32BE(FLOAT4.oid, 8);
    b.writeInt32BE(values.length, 12);
    b.writeInt32BE(1, 16); // lower bound
    let offset = 20;
    for (let i = 0; i < values.length; i++) {
      b.writeInt32BE(4, offset);
      b.writeFloatBE(values[i]!, offset + 4);
      offset += 8;
    }
    return b;
  },
};

export const TYPES_BY_NAME: ReadonlyMap<string, PgType> = new Map(
  [TEXT, INT4, INT8, FLOAT4, FLOAT8, BOOL, JSONB, VOID, FLOAT4_ARRAY, TIMESTAMPTZ].map((t) => [t.name, t]),
);

/** Encodes one result value in the requested format (0 text, 1 binary); null stays SQL NULL. */
export function encodeValue(type: PgType, value: unknown, format: number): Buffer | null {
  if (value === null || value === undefined) return null;
  return format === 1 ? type.binary(value) : Buffer.from(type.text(value), 'utf8');
}

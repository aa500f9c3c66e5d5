// Streaming parsers for COPY ... FROM STDIN data in PostgreSQL's three formats. CopyData messages split
// the stream anywhere (inside a row, a field, an escape or a length word), so each parser keeps the
// unfinished tail and yields only complete rows. Each field comes out as a ParamValue (text format 0,
// or binary format 1), so fields decode exactly as parameters do.
// https://www.postgresql.org/docs/current/sql-copy.html#SQL-COPY-FILE-FORMATS
import { SqlState, VectorgateError } from '../errors.ts';
import type { ParamValue } from './local-plan.ts';

export interface CopyOptions {
  format: 'text' | 'csv' | 'binary';
  /** One byte (text: tab, csv: comma). */
  delimiter: string;
  /** The text that stands for NULL (text: `\N`, csv: an unquoted empty field). */
  nullText: string;
  header: boolean;
}

/** One row of COPY data and its 1-based line (binary: tuple) number, for error context. */
export interface ParsedRow { line: number; fields: ParamValue[] }

export interface CopyParser {
  /** Complete rows in this chunk (with what was left over from earlier chunks). */
  push(chunk: Buffer): ParsedRow[];
  /** The last row, if the data did not end with a newline; throws if the data ends mid-row. */
  end(): ParsedRow[];
  /** 1-based number of the line being parsed: where a format error in the data itself was found. */
  readonly line: number;
}

export function copyParser(options: CopyOptions, maxRowBytes: number): CopyParser {
  return options.format === 'binary' ? new BinaryParser(maxRowBytes) : new LineParser(options, maxRowBytes);
}

function badData(message: string): VectorgateError {
  return new VectorgateError(SqlState.BadCopyFileFormat, message);
}

function tooLong(maxRowBytes: number): VectorgateError {
  return new VectorgateError(SqlState.ProgramLimitExceeded, `COPY row is longer than ${maxRowBytes} bytes`);
}

const NL = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Text and CSV: rows end at a newline (in CSV, one outside quotes); `\.` alone ends the data. */
class LineParser implements CopyParser {
  line = 0;
  private parts: Buffer[] = [];
  private partBytes = 0;
  private inQuotes = false;
  private ended = false;
  private readonly delimiter: number;

  constructor(private readonly options: CopyOptions, private readonly maxRowBytes: number) {
    this.delimiter = options.delimiter.charCodeAt(0);
  }

  push(chunk: Buffer): ParsedRow[] {
    const rows: ParsedRow[] = [];
    let start = 0;
    const csv = this.options.format === 'csv';
    for (let i = 0; i < chunk.length && !this.ended; i++) {
      const b = chunk[i]!;
      if (csv && b === QUOTE) this.inQuotes = !this.inQuotes;
      else if (b === NL && !this.inQuotes) {
        this.take(chunk.subarray(start, i), rows);
        start = i + 1;
      }
    }
    if (!this.ended && start < chunk.length) this.keep(chunk.subarray(start));
    return rows;
  }

  end(): ParsedRow[] {
    if (this.inQuotes && !this.ended) {
      this.line++; // the unfinished row's line is the one being read
      throw badData('unterminated CSV quoted field');
    }
    const rows: ParsedRow[] = [];
    if (!this.ended && this.partBytes > 0) this.take(Buffer.alloc(0), rows);
    return rows;
  }

  private keep(part: Buffer): void {
    this.partBytes += part.length;
    if (this.partBytes > this.maxRowBytes) throw tooLong(this.maxRowBytes);
    this.parts.push(Buffer.from(part));
  }

  private take(last: Buffer, rows: ParsedRow[]): void {
    let record = this.parts.length === 0 ? last : Buffer.concat([...this.parts, last]);
    this.parts = [];
    this.partBytes = 0;
    if (record.length > this.maxRowBytes) throw tooLong(this.maxRowBytes);
    if (record.length > 0 && record[record.length - 1] === CR) record = record.subarray(0, -1);
    this.line++;
    if (record.length === 2 && record[0] === BACKSLASH && record[1] === 0x2e) {
      this.ended = true;
      return;
    }
    if (this.line === 1 && this.options.header) return;
    rows.push({ line: this.line, fields: this.options.format === 'csv' ? this.csvFields(record) : this.textFields(record) });
  }

  /** Text format: delimiter-separated, backslash escapes, `\N` for NULL. */
  private textFields(record: Buffer): ParamValue[] {
    const fields: ParamValue[] = [];
    let start = 0;
    let escaped = false;
    for (let i = 0; i <= record.length; i++) {
      if (i < record.length && (escaped || record[i] !== this.delimiter)) {
        escaped = !escaped && record[i] === BACKSLASH;
        continue;
      }
      const raw = record.subarray(start, i);
      fields.push({ value: this.isNull(raw) ? null : raw.includes(BACKSLASH) ? unescapeText(raw) : raw, format: 0 });
      start = i + 1;
    }
    return fields;
  }

  /** CSV: `"` quotes, `""` inside quotes is a quote; an unquoted field equal to the NULL text is NULL. */
  private csvFields(record: Buffer): ParamValue[] {
    const fields: ParamValue[] = [];
    let start = 0;
    let inQuotes = false;
    let quoted = false;
    for (let i = 0; i <= record.length; i++) {
      const b = i < record.length ? record[i]! : -1;
      if (b === QUOTE) { inQuotes = !inQuotes; quoted = true; continue; }
      if (inQuotes && b === -1) throw badData('unterminated CSV quoted field');
      if (inQuotes || (b !== this.delimiter && b !== -1)) continue;
      const raw = record.subarray(start, i);
      fields.push({ value: quoted ? unquoteCsv(raw) : this.isNull(raw) ? null : raw, format: 0 });
      start = i + 1;
      quoted = false;
    }
    return fields;
  }

  private isNull(raw: Buffer): boolean {
    return raw.length === this.options.nullText.length && raw.toString('latin1') === this.options.nullText;
  }
}

/** A CSV field with quotes in it: quoted parts lose their quotes, and `""` inside them is one quote. */
function unquoteCsv(raw: Buffer): Buffer {
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  let inQuotes = false;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b !== QUOTE) out[n++] = b;
    else if (inQuotes && raw[i + 1] === QUOTE) { out[n++] = QUOTE; i++; }
    else inQuotes = !inQuotes;
  }
  return out.subarray(0, n);
}

const ESCAPES: Readonly<Record<string, number>> = { b: 8, f: 12, n: 10, r: 13, t: 9, v: 11 };

/** Backslash escapes of the text format: \b \f \n \r \t \v, \NNN octal, \xHH hex, \c for any other c. */
function unescapeText(raw: Buffer): Buffer {
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b !== BACKSLASH || i + 1 === raw.length) { out[n++] = b; continue; }
    const c = String.fromCharCode(raw[++i]!);
    if (ESCAPES[c] !== undefined) out[n++] = ESCAPES[c]!;
    else if (c >= '0' && c <= '7') {
      let digits = c;
      while (digits.length < 3 && i + 1 < raw.length && raw[i + 1]! >= 0x30 && raw[i + 1]! <= 0x37) digits += String.fromCharCode(raw[++i]!);
      out[n++] = parseInt(digits, 8) & 0xff;
    } else if (c === 'x' && i + 1 < raw.length && /[0-9a-f]/i.test(String.fromCharCode(raw[i + 1]!))) {
      let digits = String.fromCharCode(raw[++i]!);
      if (i + 1 < raw.length && /[0-9a-f]/i.test(String.fromCharCode(raw[i + 1]!))) digits += String.fromCharCode(raw[++i]!);
      out[n++] = parseInt(digits, 16);
    } else out[n++] = raw[i]!;
  }
  return out.subarray(0, n);
}

/** The 11 bytes binary COPY data starts with. */
export const COPY_BINARY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** Binary: a header, then per row an int16 field count and per field an int32 length (-1: NULL) and bytes. */
class BinaryParser implements CopyParser {
  line = 0;
  private pending: Buffer = Buffer.alloc(0);
  private headerDone = false;
  private ended = false;

  constructor(private readonly maxRowBytes: number) {}

  push(chunk: Buffer): ParsedRow[] {
    if (this.ended) return [];
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const rows: ParsedRow[] = [];
    let offset = this.headerDone ? 0 : this.header();
    if (offset < 0) {
      this.pending = Buffer.from(this.pending);
      return rows;
    }
    for (;;) {
      const row = this.row(offset);
      if (row === null) break;
      offset = row.next;
      if (row.fields === null) { this.ended = true; break; }
      rows.push({ line: this.line, fields: row.fields });
    }
    // Keep a copy of the unfinished tail: the caller may reuse the chunk's memory.
    this.pending = Buffer.from(this.pending.subarray(offset));
    if (this.pending.length > this.maxRowBytes) throw tooLong(this.maxRowBytes);
    return rows;
  }

  end(): ParsedRow[] {
    if (!this.ended && (this.pending.length > 0 || !this.headerDone)) throw badData('unexpected EOF in COPY data');
    return [];
  }

  /** Bytes the header takes, or -1 when it has not all arrived yet. */
  private header(): number {
    const p = this.pending;
    if (p.length < 19) return -1;
    if (!p.subarray(0, 11).equals(COPY_BINARY_SIGNATURE)) throw badData('COPY file signature not recognized');
    if ((p.readUInt32BE(11) & 0x10000) !== 0) throw badData('invalid COPY file header (WITH OIDS)');
    const extension = p.readUInt32BE(15);
    if (p.length < 19 + extension) return -1;
    this.headerDone = true;
    return 19 + extension;
  }

  /** The row at offset (fields null for the trailer), or null when it has not all arrived yet. */
  private row(offset: number): { fields: ParamValue[] | null; next: number } | null {
    const p = this.pending;
    if (p.length < offset + 2) return null;
    const count = p.readInt16BE(offset);
    if (count === -1) return { fields: null, next: offset + 2 };
    if (count < 0) throw badData(`row field count is ${count}`);
    let at = offset + 2;
    const fields: ParamValue[] = [];
    for (let f = 0; f < count; f++) {
      if (p.length < at + 4) return null;
      const len = p.readInt32BE(at);
      if (len < -1) throw badData('invalid field size');
      if (len > this.maxRowBytes) throw tooLong(this.maxRowBytes);
      at += 4;
      if (len === -1) { fields.push({ value: null, format: 1 }); continue; }
      if (p.length < at + len) return null;
      fields.push({ value: p.subarray(at, at + len), format: 1 });
      at += len;
    }
    this.line++;
    return { fields, next: at };
  }
}

// The files `vectorgate load` reads, each turned into COPY rows: .fvecs (ids are row numbers), .jsonl
// ({id, vector, payload?} per line) and .csv (id,vector,payload in PostgreSQL's CSV form, sent as they
// are so the proxy reports bad rows with their line). Rows come in chunks with the file bytes they
// cover, for the progress bar.
import { createReadStream, statSync } from 'node:fs';
import { extname } from 'node:path';
import { fvecsChunks, vecsShape } from './fvecs.ts';
import { binaryRow } from './load-encode.ts';

export interface CopyRow { data: Buffer; bytes: number }

export interface Source {
  format: 'binary' | 'csv';
  columns: string[];
  /** File size: the progress bar's total. */
  bytes: number;
  /** Known before reading for .fvecs; otherwise from the first row (null for an empty file). */
  dims(): Promise<number | null>;
  chunks(): AsyncGenerator<CopyRow[]>;
}

export function openSource(path: string): Source {
  const ext = extname(path).toLowerCase();
  if (ext === '.fvecs') return fvecsSource(path);
  if (ext === '.jsonl' || ext === '.ndjson') return jsonlSource(path);
  if (ext === '.csv') return csvSource(path);
  throw new Error(`${path}: unknown file type (expected .fvecs, .jsonl or .csv)`);
}

function fvecsSource(path: string): Source {
  const shape = vecsShape(path);
  return {
    format: 'binary',
    columns: ['id', 'vector'],
    bytes: shape.bytes,
    dims: async () => (shape.rows === 0 ? null : shape.dims),
    async *chunks() {
      if (shape.rows === 0) return;
      const rowBytes = 4 * (shape.dims + 1);
      for await (const chunk of fvecsChunks(path, shape.dims)) {
        const rows: CopyRow[] = [];
        for (let r = 0; r < chunk.rows; r++) {
          rows.push({ data: binaryRow(String(chunk.first + r), chunk.data, undefined, r * shape.dims, shape.dims), bytes: rowBytes });
        }
        yield rows;
      }
    },
  };
}

/** Records of a text file split at newlines; with `csv`, newlines inside double quotes do not split. */
async function* records(path: string, csv: boolean): AsyncGenerator<{ text: string; line: number; bytes: number }[]> {
  let carry = '';
  let line = 0;
  let inQuotes = false;
  let scanned = 0;
  for await (const piece of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 }) as AsyncIterable<string>) {
    const text = carry + piece;
    const out: { text: string; line: number; bytes: number }[] = [];
    let start = 0;
    for (let i = scanned; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (csv && c === 34) inQuotes = !inQuotes;
      else if (c === 10 && !inQuotes) {
        line++;
        const record = text.slice(start, text[i - 1] === '\r' ? i - 1 : i);
        if (record.trim() !== '') out.push({ text: record, line, bytes: Buffer.byteLength(record) + 1 });
        start = i + 1;
      }
    }
    carry = text.slice(start);
    scanned = carry.length;
    if (out.length > 0) yield out;
  }
  if (carry.trim() !== '') yield [{ text: carry.replace(/\r$/, ''), line: line + 1, bytes: Buffer.byteLength(carry) }];
}

function jsonlRow(text: string, line: number): { id: string; vector: number[]; payload: string | null } {
  let value: { id?: unknown; vector?: unknown; payload?: unknown };
  try {
    value = JSON.parse(text) as typeof value;
  } catch (err) {
    throw new Error(`line ${line}: not JSON (${(err as Error).message})`);
  }
  const { id, vector, payload } = value ?? {};
  if (typeof id !== 'string' && typeof id !== 'number') throw new Error(`line ${line}: "id" must be a string or a number`);
  if (!Array.isArray(vector) || vector.some((x) => typeof x !== 'number')) throw new Error(`line ${line}: "vector" must be an array of numbers`);
  return { id: String(id), vector: vector as number[], payload: payload === undefined || payload === null ? null : JSON.stringify(payload) };
}

function jsonlSource(path: string): Source {
  return {
    format: 'binary',
    columns: ['id', 'vector', 'payload'],
    bytes: statSync(path).size,
    async dims() {
      for await (const batch of records(path, false)) return jsonlRow(batch[0]!.text, batch[0]!.line).vector.length;
      return null;
    },
    async *chunks() {
      for await (const batch of records(path, false)) {
        yield batch.map((r) => {
          const row = jsonlRow(r.text, r.line);
          return { data: binaryRow(row.id, row.vector, row.payload), bytes: r.bytes };
        });
      }
    },
  };
}

/** A header names the columns; a data row starts with an id, never with the word `id` alone. */
function isCsvHeader(record: string): boolean {
  return /^\s*"?id"?\s*,\s*"?vector"?/i.test(record);
}

/** The fields of one CSV record (quotes removed, "" unescaped); enough to find the vector's length. */
export function csvFields(record: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < record.length; i++) {
    const c = record[i]!;
    if (quoted && c === '"' && record[i + 1] === '"') { field += '"'; i++; }
    else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) { fields.push(field); field = ''; }
    else field += c;
  }
  fields.push(field);
  return fields;
}

function csvSource(path: string): Source {
  return {
    format: 'csv',
    columns: ['id', 'vector', 'payload'],
    bytes: statSync(path).size,
    async dims() {
      for await (const batch of records(path, true)) {
        const first = batch.find((r) => !isCsvHeader(r.text));
        if (first === undefined) continue;
        const vector = (csvFields(first.text)[1] ?? '').trim().replace(/^[[{]|[\]}]$/g, '');
        return vector === '' ? null : vector.split(',').length;
      }
      return null;
    },
    async *chunks() {
      let first = true;
      for await (const batch of records(path, true)) {
        const rows: CopyRow[] = [];
        for (const r of batch) {
          if (first && isCsvHeader(r.text)) { first = false; continue; }
          first = false;
          rows.push({ data: Buffer.from(`${r.text}\n`), bytes: r.bytes });
        }
        if (rows.length > 0) yield rows;
      }
    },
  };
}

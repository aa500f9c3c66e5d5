// Sends a Source's rows with COPY … FROM STDIN, one COPY statement per `batchSize` rows. A COPY into
// a collection is not one transaction (the proxy writes its rows in durable batches as they arrive),
// but when a statement completes every row of it is durable: so a failure can say exactly which rows
// are loaded, and a re-run of the rest (ids are upserted) finishes the job.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { binaryHeader, binaryTrailer } from './load-encode.ts';
import type { CopyRow, Source } from './load-sources.ts';

/** CopyData messages of about this size: big enough to amortise per-message costs, small for memory. */
const CHUNK_BYTES = 256 * 1024;

export interface CopyProgress { rows: number; bytes: number }

export class LoadError extends Error {
  constructor(message: string, readonly loadedRows: number, options?: ErrorOptions) {
    super(message, options);
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function copyStatement(collection: string, source: Pick<Source, 'format' | 'columns'>): string {
  return `COPY ${quoteIdent(collection)} (${source.columns.join(', ')}) FROM STDIN (FORMAT ${source.format})`;
}

/** Pulls rows out of the source's chunks a statement's worth at a time. */
class RowQueue {
  #chunks: AsyncGenerator<CopyRow[]>;
  #pending: CopyRow[] = [];
  #at = 0;
  done = false;

  constructor(chunks: AsyncGenerator<CopyRow[]>) { this.#chunks = chunks; }

  async next(): Promise<CopyRow | null> {
    while (this.#at >= this.#pending.length) {
      const r = await this.#chunks.next();
      if (r.done) { this.done = true; return null; }
      this.#pending = r.value;
      this.#at = 0;
    }
    return this.#pending[this.#at++]!;
  }
}

export async function copySource(client: pg.Client, collection: string, source: Source, batchSize: number, onProgress: (p: CopyProgress) => void): Promise<number> {
  const queue = new RowQueue(source.chunks());
  const loaded: CopyProgress = { rows: 0, bytes: 0 };
  while (!queue.done) {
    const sent: CopyProgress = { rows: 0, bytes: 0 };
    const report = () => onProgress({ rows: loaded.rows + sent.rows, bytes: loaded.bytes + sent.bytes });
    try {
      const data = Readable.from(statementData(queue, source.format, batchSize, sent, report));
      await pipeline(data, client.query(copyFrom(copyStatement(collection, source))));
    } catch (err) {
      throw new LoadError(describe(err, loaded.rows), loaded.rows, { cause: err });
    }
    loaded.rows += sent.rows;
    loaded.bytes += sent.bytes;
  }
  return loaded.rows;
}

/** One statement's COPY data: up to batchSize rows in chunks of about CHUNK_BYTES. */
async function* statementData(queue: RowQueue, format: Source['format'], batchSize: number, sent: CopyProgress, report: () => void): AsyncGenerator<Buffer> {
  let parts: Buffer[] = format === 'binary' ? [binaryHeader()] : [];
  let size = 0;
  while (sent.rows < batchSize) {
    const row = await queue.next();
    if (row === null) break;
    parts.push(row.data);
    size += row.data.length;
    sent.rows++;
    sent.bytes += row.bytes;
    if (size >= CHUNK_BYTES) {
      yield Buffer.concat(parts);
      parts = [];
      size = 0;
      report();
    }
  }
  if (format === 'binary') parts.push(binaryTrailer());
  if (parts.length > 0) yield Buffer.concat(parts);
  report();
}

/** The server's message, with the row its CONTEXT names ("COPY c, line N") counted from the start of the file. */
function describe(err: unknown, loaded: number): string {
  const e = err as { message?: string; detail?: string; code?: string; where?: string };
  const line = /line (\d+)/.exec(e.where ?? '')?.[1];
  const where = line === undefined ? '' : ` (row ${loaded + Number(line)} of the file's data rows)`;
  const detail = e.detail ? `\n${e.detail}` : '';
  return `${e.message ?? String(err)}${e.code ? ` [${e.code}]` : ''}${where}${detail}\nthe first ${loaded} rows are loaded (durably); the rest are not`;
}

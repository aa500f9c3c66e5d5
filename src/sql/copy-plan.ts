// COPY <collection> [(id, vector, payload)] FROM STDIN [WITH (FORMAT text|csv|binary, HEADER, DELIMITER,
// NULL)]: the wire streams CopyData into the sink, which parses and checks rows. Like a COPY into a
// table, a COPY that fails (bad row, CopyFail, disconnect) keeps nothing: its rows are held and written
// as one all-or-nothing batch at CopyDone, up to copyAtomicMaxRows rows and copyAtomicMaxBytes bytes.
// A larger COPY gets a NOTICE when it crosses that limit, then writes batches of copyBatchRows (each
// durable before more data is taken), and a failure after that keeps the batches written before it.
// https://www.postgresql.org/docs/current/sql-copy.html
import type { Config } from '../config.ts';
import { SqlState, VectorgateError, toVectorgateError } from '../errors.ts';
import type { Collections, Row } from '../router/collections.ts';
import type { DatabaseCollections } from '../router/database-collections.ts';
import type { Node } from './args.ts';
import { copyParser, type CopyOptions, type ParsedRow } from './copy-format.ts';
import { checkId } from '../engine/shard.ts';
import type { CopySink, ExecContext, LocalPlan, ParamValue } from './local-plan.ts';
import { decodeJsonText, decodeText, decodeVector } from './param-decode.ts';
import { utf8CopySink } from './copy-encoding.ts';
import { UPSERT, warnIfInTransactionBlock } from './functions/writes.ts';
import { collectionsOf } from './functions/types.ts';
import { writeBytes } from './tenant.ts';

const COLUMNS = ['id', 'vector', 'payload'] as const;
type Column = (typeof COLUMNS)[number];

function unsupported(message: string, hint?: string): VectorgateError {
  return new VectorgateError(SqlState.FeatureNotSupported, message, hint ? { hint } : {});
}

/** The schema whose relations stand for the collections (`COPY vectorgate.docs` is the collection docs). */
const COLLECTION_SCHEMA = 'vectorgate';

/**
 * A plan when the COPY targets a collection of the session's database (looked up now: collections
 * come and go), else null: a table of that name, a collection of another database, or a relation of
 * any schema but vectorgate's is PostgreSQL's.
 */
export function planCopy(stmt: Node, collections: Collections | null, database: string): LocalPlan | null {
  const relation = stmt.relation as Node | undefined;
  // database.schema.name is PostgreSQL's own spelling for the current database; another one it refuses.
  if (relation === undefined || collections === null || (relation.catalogname !== undefined && relation.catalogname !== database)) return null;
  if (relation.schemaname !== undefined && relation.schemaname !== COLLECTION_SCHEMA) return null;
  const name = String(relation.relname);
  if (collections.in(database).spec(name) === undefined) return null;
  if (stmt.is_from !== true || stmt.filename !== undefined || stmt.is_program === true) {
    throw unsupported(`COPY of collection "${name}" supports only FROM STDIN`, 'Read rows with SELECT * FROM vector_get(...) or vector_search(...).');
  }
  if (stmt.whereClause !== undefined) throw unsupported(`COPY FROM with WHERE is not supported for collection "${name}"`);
  const columns = copyColumns(stmt, name);
  const options = copyOptions(stmt, name);
  return {
    columns: null,
    paramTypes: [],
    execute: async () => { throw unsupported('COPY FROM STDIN needs the COPY protocol'); },
    copyIn: {
      format: options.format,
      columns: columns.length,
      prepare: (ctx) => ctx.access.require(name, UPSERT),
      open: (ctx) => utf8CopySink(new CollectionCopySink(ctx, name, columns, options), options.format, ctx.clientEncoding ?? 'UTF8'),
    },
  };
}

function copyColumns(stmt: Node, name: string): Column[] {
  const list = ((stmt.attlist as Node[] | undefined) ?? []).map((n) => String((n.String as Node).sval));
  if (list.length === 0) return [...COLUMNS];
  for (const [i, column] of list.entries()) {
    if (!(COLUMNS as readonly string[]).includes(column)) {
      throw new VectorgateError(SqlState.UndefinedColumn, `column "${column}" of relation "${name}" does not exist`);
    }
    if (list.indexOf(column) !== i) throw new VectorgateError(SqlState.DuplicateColumn, `column "${column}" specified more than once`);
  }
  if (!list.includes('id') || !list.includes('vector')) {
    throw unsupported(`COPY into collection "${name}" needs the id and vector columns`);
  }
  return list as Column[];
}

function optionText(def: Node): string | null {
  const arg = def.arg as Node | undefined;
  if (arg === undefined) return null;
  if (arg.String) return String((arg.String as Node).sval);
  if (arg.Boolean) return (arg.Boolean as Node).boolval === true ? 'true' : 'false';
  if (arg.Integer) return String((arg.Integer as Node).ival ?? 0);
  return null;
}

function copyOptions(stmt: Node, name: string): CopyOptions {
  const given = new Map<string, string | null>();
  for (const item of (stmt.options as Node[] | undefined) ?? []) {
    const def = item.DefElem as Node;
    given.set(String(def.defname), optionText(def));
  }
  const format = (given.get('format') ?? 'text').toLowerCase();
  if (format !== 'text' && format !== 'csv' && format !== 'binary') {
    throw new VectorgateError(SqlState.InvalidParameterValue, `COPY format "${format}" not recognized`);
  }
  for (const key of given.keys()) {
    if (!['format', 'header', 'delimiter', 'null'].includes(key)) throw unsupported(`COPY option "${key}" is not supported for collection "${name}"`);
  }
  const header = given.has('header') && !['false', 'off', '0'].includes((given.get('header') ?? 'true').toLowerCase());
  const delimiter = given.get('delimiter') ?? (format === 'csv' ? ',' : '\t');
  if (Buffer.byteLength(delimiter) !== 1) throw unsupported('COPY delimiter must be a single one-byte character');
  if (format === 'binary' && (header || given.has('delimiter') || given.has('null'))) {
    throw unsupported('cannot specify HEADER, DELIMITER or NULL in BINARY mode');
  }
  return { format, delimiter, header, nullText: given.get('null') ?? (format === 'csv' ? '' : '\\N') };
}

/** A row's bytes in a write besides its vector, payload and id: op and record framing. */
const ROW_OVERHEAD_BYTES = 16;

class CollectionCopySink implements CopySink {
  private readonly parser;
  private readonly collections: DatabaseCollections;
  private readonly config: Config;
  private readonly dims: number;
  private batch: Row[] = [];
  /** Each held row's bytes in a write (writeBytes + ROW_OVERHEAD_BYTES), in batch order. */
  private batchSizes: number[] = [];
  private batchBytes = 0;
  /** The write path's limit on one write's bytes (a cluster's etcd transaction), or null. */
  private readonly maxWriteBytes: number | null;
  private written = 0;
  private copiedBytes = 0;
  /**
   * Rows are held to be written together at CopyDone, so a COPY that fails keeps nothing, as
   * PostgreSQL's COPY keeps nothing; false once the COPY outgrew copyAtomicMaxRows/Bytes.
   * https://www.postgresql.org/docs/current/sql-copy.html
   */
  private atomic = true;

  constructor(private readonly ctx: ExecContext, private readonly name: string, private readonly columns: Column[], options: CopyOptions) {
    this.collections = collectionsOf(ctx);
    this.config = this.collections.config;
    this.parser = copyParser(options, this.config.maxCopyRowBytes);
    const spec = this.collections.spec(name);
    if (spec === undefined) throw new VectorgateError(SqlState.UndefinedTable, `collection "${name}" does not exist`);
    this.dims = spec.dims;
    this.maxWriteBytes = this.collections.maxWriteBytes;
    warnIfInTransactionBlock(ctx);
  }

  async write(data: Buffer): Promise<void> {
    this.copiedBytes += data.length;
    await this.take(() => this.parser.push(data));
  }

  async end(): Promise<string> {
    await this.take(() => this.parser.end());
    if (this.atomic) await this.flush(this.batch.length);
    await this.flushFullBatches();
    await this.flush(this.batch.length);
    return `COPY ${this.written}`;
  }

  /**
   * Parses rows and writes each full batch. An error gets PostgreSQL's CONTEXT: the line of the row
   * (and the column) it is about, or, for a format error in the data, the line being read.
   */
  private async take(parse: () => ParsedRow[]): Promise<void> {
    let rows: ParsedRow[];
    try {
      rows = parse();
    } catch (err) {
      throw this.withContext(err, this.parser.line, null);
    }
    for (const { line, fields } of rows) {
      const row = this.row(line, fields);
      const size = writeBytes([row], this.dims) + Buffer.byteLength(row.id) + ROW_OVERHEAD_BYTES;
      this.batch.push(row);
      this.batchSizes.push(size);
      this.batchBytes += size;
      if (this.atomic && this.outgrown()) this.leaveAtomic();
      if (!this.atomic) await this.flushFullBatches();
    }
  }

  /** One batch holds at most maxBatchRows, so that caps the all-or-nothing rows too. */
  private get atomicMaxRows(): number {
    return Math.min(this.config.copyAtomicMaxRows, this.config.maxBatchRows);
  }

  private outgrown(): boolean {
    return this.batch.length > this.atomicMaxRows || this.copiedBytes > this.config.copyAtomicMaxBytes ||
      (this.maxWriteBytes !== null && this.batchBytes > this.maxWriteBytes);
  }

  /** Says so before the first batch is written: from here on a failure keeps the batches before it. */
  private leaveAtomic(): void {
    this.atomic = false;
    this.ctx.notice({
      severity: 'NOTICE',
      code: SqlState.SuccessfulCompletion,
      message: `COPY into collection "${this.name}" exceeds ${this.atomicMaxRows} rows or ${Math.min(this.config.copyAtomicMaxBytes, this.maxWriteBytes ?? Infinity)} bytes: ` +
        `its rows are now written in batches of ${this.config.copyBatchRows}, and if the COPY fails, the batches written before stay`,
    });
  }

  /** Writes batches of copyBatchRows rows, each also under the write path's byte limit. */
  private async flushFullBatches(): Promise<void> {
    for (;;) {
      const fitting = this.rowsFitting();
      if (fitting < this.batch.length || this.batch.length >= this.config.copyBatchRows) await this.flush(Math.min(fitting, this.config.copyBatchRows));
      else return;
    }
  }

  /** How many of the held rows, from the first, fit in one write (at least one: a row too big is the write path's to refuse). */
  private rowsFitting(): number {
    if (this.maxWriteBytes === null) return this.batch.length;
    let bytes = 0;
    for (let i = 0; i < this.batchSizes.length; i++) {
      bytes += this.batchSizes[i]!;
      if (bytes > this.maxWriteBytes) return Math.max(1, i);
    }
    return this.batch.length;
  }

  /** PostgreSQL's CONTEXT line for COPY: "COPY name, line N[, column C]". */
  private where(line: number, column: Column | null): string {
    return `COPY ${this.name}, line ${line}${column === null ? '' : `, column ${column}`}`;
  }

  private withContext(err: unknown, line: number, column: Column | null): VectorgateError {
    const e = toVectorgateError(err);
    return new VectorgateError(e.code, e.message, { detail: e.detail, hint: e.hint, where: this.where(line, column), cause: err });
  }

  /** One row, checked here (the batch checks again) so that an error names its line and column. */
  private row(line: number, fields: ParamValue[]): Row {
    if (fields.length < this.columns.length) {
      throw new VectorgateError(SqlState.BadCopyFileFormat, `missing data for column "${this.columns[fields.length]}"`, { where: this.where(line, null) });
    }
    if (fields.length > this.columns.length) {
      throw new VectorgateError(SqlState.BadCopyFileFormat, 'extra data after last expected column', { where: this.where(line, null) });
    }
    const row: Row = { id: '', vector: [] };
    this.columns.forEach((column, i) => {
      try {
        this.field(row, column, fields[i]!);
      } catch (err) {
        throw this.withContext(err, line, column);
      }
    });
    return row;
  }

  private field(row: Row, column: Column, field: ParamValue): void {
    if (field.value === null) {
      if (column !== 'payload') throw new VectorgateError(SqlState.NotNullViolation, `null value in column "${column}" of relation "${this.name}" violates not-null constraint`);
      return;
    }
    // Text and CSV data reach the sink as UTF-8 (utf8CopySink); binary fields are in the client's encoding.
    const encoding = field.format === 1 ? this.ctx.clientEncoding : 'UTF8';
    if (column === 'id') {
      row.id = decodeText(field, encoding);
      checkId(row.id, this.config.maxIdBytes);
    } else if (column === 'vector') {
      row.vector = this.checkDims(decodeVector(field));
    } else {
      row.payload = decodeJsonText(field, encoding);
    }
  }

  private checkDims(vector: Float32Array): Float32Array {
    if (vector.length !== this.dims) throw new VectorgateError(SqlState.DataException, `expected ${this.dims} dimensions, not ${vector.length}`);
    return vector;
  }

  /** Writes the first `count` rows held as one all-or-nothing batch. */
  private async flush(count: number): Promise<void> {
    if (count === 0) return;
    if (this.ctx.signal.aborted) throw new VectorgateError(SqlState.QueryCanceled, 'canceling statement due to user request');
    const rows = this.batch.splice(0, count);
    for (const size of this.batchSizes.splice(0, count)) this.batchBytes -= size;
    const write = { database: this.ctx.access.database, collection: this.name, rows: rows.length, bytes: writeBytes(rows, this.dims) };
    await this.ctx.tenant.admitWrite(write, this.ctx.signal);
    const ack = await this.collections.upsert(this.name, rows);
    this.written += ack.rows;
  }
}

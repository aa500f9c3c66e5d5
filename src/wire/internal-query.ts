// The proxy's own reads from the upstream inside a client's session (e.g. the effective value of a
// `vectorgate.*` setting, which PostgreSQL tracks with full SET LOCAL / ROLLBACK / savepoint rules).
// They use named statements and a portal of their own, so the client's unnamed ones are untouched, and
// no Sync unless the client is between pipelines, so they never end the client's implicit transaction.
// Every response is swallowed; DataRows are decoded here.
//
// Statement names come from a process-wide counter, so a name is never reused while it may still be
// prepared upstream. A repeated read (`keep`) stays prepared, at most maxInternalStatementsPerSession
// per session (the oldest is closed past it); a one-off read (EXPLAIN) is closed in the same pipeline.
// After an error PostgreSQL skips everything up to Sync, Closes included, so the names of a failed
// read are closed at the start of the next one ("It is not an error to issue Close against a
// nonexistent statement": https://www.postgresql.org/docs/current/protocol-message-formats.html).
import { FrontendCode } from './codes.ts';
import { MessageWriter } from './backend-writer.ts';
import { BodyReader } from './frontend-codec.ts';
import { Expect, newExpectation, type Expectation } from './response-queue.ts';
import { SqlState, VectorgateError, upstreamError } from '../errors.ts';
import type { Session } from './session.ts';

const PORTAL = 'vectorgate_internal';
const CLOSE_STATEMENT = 0x53; // 'S'
const CLOSE_PORTAL = 0x50; // 'P'

export type TextRow = (string | null)[];

export interface InternalQueryOptions {
  /** Keep the statement prepared for the next read of the same text (bounded per session). */
  keep?: boolean;
}

let statementCounter = 0;
/** Statements a failed read could not close (PostgreSQL skipped its Close), closed by the next read. */
const unclosed = new WeakMap<Session, string[]>();

function decodeDataRow(raw: Buffer): TextRow {
  const reader = new BodyReader(raw, 5);
  const count = reader.int16();
  const row: TextRow = [];
  for (let i = 0; i < count; i++) {
    const length = reader.int32();
    row.push(length < 0 ? null : reader.bytes(length).toString('utf8'));
  }
  return row;
}

/** An ErrorResponse's fields by their code letter. https://www.postgresql.org/docs/current/protocol-error-fields.html */
function decodeErrorFields(raw: Buffer): Map<string, string> {
  const reader = new BodyReader(raw, 5);
  const fields = new Map<string, string>();
  for (let type = reader.byte(); type !== 0; type = reader.byte()) fields.set(String.fromCharCode(type), reader.cstring());
  return fields;
}

function swallowed(expect: Expect, sync = false): Expectation {
  const entry = newExpectation(expect, true, sync);
  entry.swallow = 'all';
  return entry;
}

/** The messages of one internal read and the responses they expect, built in order. */
class InternalPipeline {
  readonly w: MessageWriter;
  readonly entries: Expectation[] = [];
  /** Statements this pipeline closes or prepares, with the entry of that message. */
  readonly statements: { name: string; entry: Expectation }[] = [];

  constructor(sqlLength: number) {
    this.w = new MessageWriter(sqlLength + 160);
  }

  closeStatement(name: string): void {
    this.w.begin(FrontendCode.Close).byte(CLOSE_STATEMENT).cstring(name).end();
    this.add(name, swallowed(Expect.CloseComplete));
  }

  parse(name: string, sql: string): void {
    this.w.begin(FrontendCode.Parse).cstring(name).cstring(sql).int16(0).end();
    this.add(name, swallowed(Expect.ParseComplete));
  }

  private add(name: string, entry: Expectation): void {
    this.entries.push(entry);
    this.statements.push({ name, entry });
  }

  /** After an error: the statements whose Close or Parse came at or after it (PostgreSQL skipped them). */
  skippedStatements(): string[] {
    const failedAt = this.entries.findIndex((e) => e.sawError);
    return this.statements.filter((s) => this.entries.indexOf(s.entry) >= failedAt).map((s) => s.name);
  }

  /** Bind, Execute and Close of the portal; returns the Execute's entry, which captures the rows. */
  run(name: string): Expectation {
    this.w.begin(FrontendCode.Bind).cstring(PORTAL).cstring(name).int16(0).int16(0).int16(0).end();
    this.w.begin(FrontendCode.Execute).cstring(PORTAL).int32(0).end();
    this.w.begin(FrontendCode.Close).byte(CLOSE_PORTAL).cstring(PORTAL).end();
    const execute = swallowed(Expect.Completion);
    this.entries.push(swallowed(Expect.BindComplete), execute, swallowed(Expect.CloseComplete));
    return execute;
  }

  sync(): void {
    this.w.begin(FrontendCode.Sync).end();
    this.entries.push(swallowed(Expect.UntilReady, true));
  }
}

/** The prepared statement for a kept read: the cached one, or a new one (closing the oldest past the limit). */
function keptStatement(session: Session, sql: string, pipeline: InternalPipeline): string {
  const cached = session.internalStatements.get(sql);
  if (cached !== undefined) return cached;
  const limit = session.deps.config.maxInternalStatementsPerSession;
  for (const [oldSql, oldName] of session.internalStatements) {
    if (session.internalStatements.size < limit) break;
    session.internalStatements.delete(oldSql);
    pipeline.closeStatement(oldName);
  }
  const name = `vectorgate_internal_${statementCounter++}`;
  pipeline.parse(name, sql);
  session.internalStatements.set(sql, name);
  return name;
}

/** Runs a parameterless text-result query upstream; call only when the upstream is idle. */
export function internalQuery(session: Session, sql: string, options: InternalQueryOptions = {}): Promise<TextRow[]> {
  const upstream = session.upstream!;
  const pipeline = new InternalPipeline(sql.length);
  for (const name of unclosed.get(session)?.splice(0) ?? []) pipeline.closeStatement(name);
  let statement: string;
  if (options.keep) {
    statement = keptStatement(session, sql, pipeline);
  } else {
    statement = `vectorgate_internal_${statementCounter++}`;
    pipeline.parse(statement, sql);
  }
  const execute = pipeline.run(statement);
  if (!options.keep) pipeline.closeStatement(statement);
  if (!session.midPipeline) pipeline.sync();
  const rows: TextRow[] = [];
  execute.capture = (raw) => rows.push(decodeDataRow(raw));
  let error: Map<string, string> | null = null;
  for (const entry of pipeline.entries) entry.captureError = (raw) => { error ??= decodeErrorFields(raw); };
  upstream.write(pipeline.w.finish());
  for (const entry of pipeline.entries) upstream.expect(entry);
  upstream.uncork();
  // Idle means every entry was answered or dropped (after an error without Sync, PostgreSQL answers nothing more).
  return upstream.whenIdle().then(() => {
    if (!pipeline.entries.some((e) => e.sawError)) return rows;
    if (session.internalStatements.get(sql) === statement) session.internalStatements.delete(sql);
    const toClose = new Set([...(unclosed.get(session) ?? []), ...pipeline.skippedStatements(), statement]);
    unclosed.set(session, [...toClose]);
    const fields = error as Map<string, string> | null;
    if (fields === null) throw new VectorgateError(SqlState.InternalError, `vectorgate's internal query failed upstream: ${sql}`);
    throw upstreamError({ code: fields.get('C') ?? '', message: fields.get('M') ?? '', detail: fields.get('D'), hint: fields.get('H') });
  });
}

// The proxy's own reads from the upstream inside a client's session (e.g. the effective value of a
// `vectorgate.*` setting, which PostgreSQL tracks with full SET LOCAL / ROLLBACK / savepoint rules).
// They use a named statement and portal of their own, so the client's unnamed ones are untouched, and
// no Sync unless the client is between pipelines, so they never end the client's implicit transaction.
// Every response is swallowed; DataRows are decoded here.
import { FrontendCode } from './codes.ts';
import { MessageWriter } from './backend-writer.ts';
import { BodyReader } from './frontend-codec.ts';
import { Expect, newExpectation, type Expectation } from './response-queue.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import type { Session } from './session.ts';

const PORTAL = 'vectorgate_internal';

export type TextRow = (string | null)[];

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

function swallowed(expect: Expect, sync = false): Expectation {
  const entry = newExpectation(expect, true, sync);
  entry.swallow = 'all';
  return entry;
}

/** Runs a parameterless text-result query upstream; call only when the upstream is idle. */
export function internalQuery(session: Session, sql: string): Promise<TextRow[]> {
  const upstream = session.upstream!;
  const statement = session.internalStatements.get(sql) ?? `vectorgate_internal_${session.internalStatements.size}`;
  const w = new MessageWriter(sql.length + 96);
  const entries: Expectation[] = [];
  if (!session.internalStatements.has(sql)) {
    w.begin(FrontendCode.Parse).cstring(statement).cstring(sql).int16(0).end();
    entries.push(swallowed(Expect.ParseComplete));
    session.internalStatements.set(sql, statement);
  }
  w.begin(FrontendCode.Bind).cstring(PORTAL).cstring(statement).int16(0).int16(0).int16(0).end();
  w.begin(FrontendCode.Execute).cstring(PORTAL).int32(0).end();
  w.begin(FrontendCode.Close).byte(0x50).cstring(PORTAL).end();
  const bind = swallowed(Expect.BindComplete);
  const execute = swallowed(Expect.Completion);
  entries.push(bind, execute, swallowed(Expect.CloseComplete));
  if (!session.midPipeline) {
    w.begin(FrontendCode.Sync).end();
    entries.push(swallowed(Expect.UntilReady, true));
  }
  const rows: TextRow[] = [];
  execute.capture = (raw) => rows.push(decodeDataRow(raw));
  const done = new Promise<TextRow[]>((resolve, reject) => {
    const last = entries[entries.length - 1]!;
    last.onDone = () => {
      if (entries.some((e) => e.sawError)) {
        session.internalStatements.delete(sql);
        reject(new VectorgateError(SqlState.InternalError, `vectorgate's internal query failed upstream: ${sql}`));
      } else {
        resolve(rows);
      }
    };
  });
  upstream.write(w.finish());
  for (const entry of entries) upstream.expect(entry);
  upstream.uncork();
  return upstream.whenIdle().then(() => done);
}

// A simple Query whose text has statements of ours. Its statements run in order, upstream runs as
// their own Query messages, and the first error stops the rest, as in PostgreSQL. A text of several
// statements outside a transaction block runs as one implicit transaction, as PostgreSQL runs it:
// it is wrapped in BEGIN/COMMIT upstream (unless it controls transactions itself).
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-MULTI-STATEMENT
import { runLocalCopy } from './local-copy.ts';
import { FrontendCode } from './codes.ts';
import { MessageWriter, writeCommandComplete, writeEmpty, writeError, writeReadyForQuery } from './backend-writer.ts';
import { describeRows, writeRows } from './local-statements.ts';
import { Expect, newExpectation, type Expectation } from './response-queue.ts';
import { inFailedTransaction, poisonUpstream } from './dispatcher.ts';
import { BackendCode } from './codes.ts';
import { executeCancellable } from './cancellable.ts';
import { queryComposed } from './composed.ts';
import { isSampled, logStatement, sqlKind } from './statement-log.ts';
import { clientCString } from './client-text.ts';
import { VectorgateError, toVectorgateError } from '../errors.ts';
import type { Classification, ExecContext, LocalPlan, StatementPart } from '../sql/local-plan.ts';
import type { Session } from './session.ts';

const TRANSACTION_CONTROL = /^\s*(begin|start|commit|end|rollback|abort|savepoint|release|prepare\s+transaction)\b/i;

/** Runs one local statement with its context (settings read back, timeout armed): Dispatcher.run. */
export type LocalRunner = <T>(work: (ctx: ExecContext) => Promise<T>) => Promise<T>;

export async function runSimpleQuery(session: Session, classification: Classification | VectorgateError, run: LocalRunner): Promise<void> {
  if (classification instanceof VectorgateError) {
    await failLocal(session, classification);
    return;
  }
  const parts = classification.route === 'local' ? classification.parts : [];
  const wrap = parts.length > 1 && session.txStatus === 'I' && !parts.some((p) => p.plan === null && p.error === null && TRANSACTION_CONTROL.test(p.sql));
  if (parts.length === 0) {
    session.writeClient(done((w) => writeEmpty(w, BackendCode.EmptyQueryResponse), session));
    return;
  }
  if (wrap) await upstreamQuery(session, 'BEGIN', 'all');
  let failed = false;
  for (const part of parts) {
    failed = part.plan === null && part.error === null ? await upstreamPart(session, part) : await localPart(session, part, run);
    if (failed) break;
  }
  if (wrap) await upstreamQuery(session, failed ? 'ROLLBACK' : 'COMMIT', failed ? 'all' : 'ok');
  await session.upstream!.whenIdle();
  const w = new MessageWriter(8);
  writeReadyForQuery(w, session.txStatus);
  session.writeClient(w.finish());
}

/** Sends one Query upstream and waits for its ReadyForQuery, which the client does not see. */
function upstreamQuery(session: Session, sql: string, swallow: Expectation['swallow']): Promise<Expectation> {
  const w = new MessageWriter(sql.length + 8);
  clientCString(w.begin(FrontendCode.Query), session, sql).end();
  const entry = newExpectation(Expect.UntilReady, false);
  entry.swallow = swallow;
  return new Promise((resolve) => {
    entry.onDone = resolve;
    session.upstream!.write(w.finish());
    session.upstream!.expect(entry);
  });
}

async function upstreamPart(session: Session, part: StatementPart): Promise<boolean> {
  session.deps.metrics.statementsUpstream.inc();
  const entry = await upstreamQuery(session, part.sql, 'ready');
  return entry.sawError;
}

/** Runs one local statement; true when it failed. */
async function localPart(session: Session, part: StatementPart, run: LocalRunner): Promise<boolean> {
  try {
    if (session.txStatus === 'E') throw inFailedTransaction();
    if (part.error !== null) throw part.error;
    const plan = part.plan!;
    const started = performance.now();
    const sampled = isSampled(session.deps.log, session.deps.config.logSampleEvery);
    const w = new MessageWriter();
    let outcome: Outcome = { failed: true, rows: null };
    try {
      outcome = await answer(session, plan, run, w);
    } finally {
      if (sampled) logStatement(session.deps.log, { route: plan.compose ? 'composed' : 'local', kind: sqlKind(part.sql), startedMs: started, ...outcome });
    }
    if (plan.compose) return outcome.failed;
    session.holdClient(w.finish());
    session.deps.metrics.statementsLocal.inc();
    session.deps.metrics.statementLocal.observe((performance.now() - started) / 1000);
    return false;
  } catch (err) {
    await failLocal(session, toVectorgateError(err), false);
    return true;
  }
}

interface Outcome { failed: boolean; rows: number | null }

/** A composed statement goes upstream (its answer streams to the client); any other is written into w. */
async function answer(session: Session, plan: LocalPlan, run: LocalRunner, w: MessageWriter): Promise<Outcome> {
  if (plan.compose) return { failed: await run((ctx) => queryComposed(session, plan, ctx)), rows: null };
  if (plan.copyIn) {
    writeCommandComplete(w, await run((ctx) => runLocalCopy(session, plan, ctx)));
    return { failed: false, rows: null };
  }
  const result = await run((ctx) => executeCancellable(plan, ctx, []));
  describeRows(w, plan.columns, []);
  await writeRows(w, plan.columns, result.rows, [], session.rowOutput, session.clientEncoding);
  writeCommandComplete(w, result.commandTag);
  return { failed: false, rows: result.rows.length };
}

/** ErrorResponse for a local statement; inside a transaction block the upstream's fails too. */
async function failLocal(session: Session, error: VectorgateError, finish = true): Promise<void> {
  if (error.severity === 'FATAL') throw error;
  session.holdClient(done((w) => writeError(w, error), null));
  if (session.txStatus === 'T') poisonUpstream(session, false);
  if (!finish) return;
  await session.upstream!.whenIdle();
  session.writeClient(done((w) => writeReadyForQuery(w, session.txStatus), null));
}

function done(fill: (w: MessageWriter) => void, session: Session | null): Buffer {
  const w = new MessageWriter(64);
  fill(w);
  if (session) writeReadyForQuery(w, session.txStatus);
  return w.finish();
}

// Routes each frontend message of a ready session: forwarded byte for byte (with the responses it will
// get noted in the queue), or answered locally once every earlier upstream response has gone out.
// https://www.postgresql.org/docs/current/protocol-flow.html
import { runLocalCopy } from './local-copy.ts';
import { BackendCode, FrontendCode } from './codes.ts';
import {
  BodyReader, checkEmptyBody, decodeBind, decodeBindNames, decodeClose, decodeDescribe, decodeExecute,
  type FrontendMessage,
} from './frontend-codec.ts';
import { MessageWriter, writeCommandComplete, writeEmpty, writeError, writeNotice, writeReadyForQuery } from './backend-writer.ts';
import { Expect, expectationFor, newExpectation } from './response-queue.ts';
import { StatementTable, bindLocal, type LocalPortal, type LocalStatement, describeRows, describeStatement, executePortal } from './local-statements.ts';
import { runSimpleQuery } from './simple-query.ts';
import { internalQuery } from './internal-query.ts';
import { localSettingsOf, noteSettingChange, refreshSettings } from './settings-sync.ts';
import { logStatement, logWhenDone, queryKind } from './statement-log.ts';
import { statementSampler } from '../log.ts';
import { bindComposed, describeComposed } from './composed.ts';
import { parseMessage, queryText } from './client-text.ts';
import { checkClientEncoding } from '../sql/client-encoding.ts';
import { mayBeOurs } from '../sql/prefilter.ts';
import { noteStatementText } from './access-watch.ts';
import { ROUND_TRIP_SAMPLE } from '../metrics.ts';
import { SqlState, VectorgateError, toVectorgateError } from '../errors.ts';
import type { Classification, ExecContext, Notice } from '../sql/local-plan.ts';
import type { Session } from './session.ts';

export class Dispatcher {
  readonly table: StatementTable;
  private abort = new AbortController();
  private roundTrips = 0;

  /** null unless --log-level is debug: then true for the one statement in logSampleEvery that is logged. */
  private readonly sampleStatement: (() => boolean) | null;

  constructor(private readonly session: Session) {
    this.table = new StatementTable(session.deps.config.maxPreparedPerSession);
    this.sampleStatement = statementSampler(session.deps.log, session.deps.config.logSampleEvery);
  }

  cancel(): void {
    this.abort.abort(new VectorgateError(SqlState.QueryCanceled, 'canceling statement due to user request'));
    this.abort = new AbortController();
  }

  /**
   * Runs one local statement: settings read back first, then `vectorgate.statement_timeout` armed
   * (57014 when it fires, like PostgreSQL's statement_timeout). A statement may tighten or set the
   * limit once it knows more (a search, from its collection's policy): ctx.limitTime, measured from
   * the statement's start.
   */
  async run<T>(work: (ctx: ExecContext) => Promise<T>): Promise<T> {
    checkClientEncoding(this.session.clientEncoding);
    await refreshSettings(this.session);
    const controller = this.abort;
    const startedMs = performance.now();
    let timer: NodeJS.Timeout | null = null;
    let deadlineMs = Infinity;
    const limitTime = (timeoutMs: number) => {
      if (timer !== null) clearTimeout(timer);
      deadlineMs = timeoutMs > 0 ? startedMs + timeoutMs : Infinity;
      timer = timeoutMs > 0
        ? setTimeout(() => controller.abort(new VectorgateError(SqlState.QueryCanceled, 'canceling statement due to statement timeout')),
          Math.max(0, startedMs + timeoutMs - performance.now()))
        : null;
    };
    limitTime(Number(this.session.settings.get('statement_timeout') ?? 0));
    const session = this.session;
    const notices = new Set<string>();
    const ctx: ExecContext = {
      signal: controller.signal,
      collections: session.deps.collections,
      positions: session.writePositions,
      access: session.access,
      tenant: session.tenant,
      superuser: session.isSuperuser,
      settings: session.settings,
      localSettings: localSettingsOf(session),
      clientEncoding: session.clientEncoding,
      queryUpstream: (sql) => internalQuery(session, sql),
      touchSettings: (change) => noteSettingChange(session, change),
      limitTime,
      remainingMs: () => deadlineMs - performance.now(),
      transactionStatus: session.txStatus,
      notice: (notice) => {
        const full: Notice = typeof notice === 'string' ? { severity: 'NOTICE', code: SqlState.SuccessfulCompletion, message: notice } : notice;
        if (notices.has(full.message)) return;
        notices.add(full.message);
        sendNotice(session, full);
      },
      noticeOncePerTransaction: (key, notice) => {
        if (session.txStatus !== 'I') {
          if (session.transactionNotices.has(key)) return;
          session.transactionNotices.add(key);
        }
        sendNotice(session, notice);
      },
    };
    let leave: (() => void) | null = null;
    try {
      leave = await session.tenant.enterStatement(ctx);
      return await work(ctx);
    } finally {
      leave?.();
      if (timer !== null) clearTimeout(timer);
      if (controller.signal.aborted && controller === this.abort) this.abort = new AbortController();
    }
  }

  dispatch(message: FrontendMessage): Promise<void> | undefined {
    const session = this.session;
    const code = message.code;
    if (code === FrontendCode.Terminate) {
      checkEmptyBody(message.raw, FrontendCode.Terminate);
      session.upstream?.write(message.raw);
      session.close('client terminated');
      return undefined;
    }
    if (session.ignoreTillSync && code !== FrontendCode.Sync) return undefined;
    switch (code) {
      case FrontendCode.Query: return this.query(message);
      case FrontendCode.Parse: return this.parse(message);
      case FrontendCode.Bind: return this.bind(message);
      case FrontendCode.Describe: return this.describe(message);
      case FrontendCode.Execute: return this.execute(message);
      case FrontendCode.Close: return this.closeMessage(message);
      case FrontendCode.Sync:
        checkEmptyBody(message.raw, FrontendCode.Sync);
        session.ignoreTillSync = false;
        if (session.txStatus === 'I') this.table.dropLocalPortals();
        // Nothing went upstream since the last Sync: PostgreSQL's state cannot have changed, so the
        // proxy answers ReadyForQuery itself and a local-only pipeline costs no upstream round trip.
        if (!session.midPipeline) return this.whenIdle(async () => this.readyLocally());
        return this.forward(message, Expect.UntilReady, true);
      case FrontendCode.Flush:
        checkEmptyBody(message.raw, FrontendCode.Flush);
        session.flushClient();
        session.upstream!.write(message.raw);
        return undefined;
      default:
        // Password/SASL, FunctionCall, COPY data: PostgreSQL's business.
        return this.forward(message, expectationFor(code), false);
    }
  }

  private forward(message: FrontendMessage, expect: Expect | null, sync: boolean, extended = true): undefined {
    const upstream = this.session.upstream!;
    upstream.write(message.raw);
    const copy = this.session.upstreamCopy;
    if (message.code === FrontendCode.CopyDone || message.code === FrontendCode.CopyFail) copy.endsSent++;
    // PostgreSQL ignores a Sync that reaches it during COPY FROM STDIN: no answer, and the pipeline goes on.
    if (sync && copy.started > copy.endsSent) return undefined;
    this.trackPipeline(message.code);
    if (expect !== null) {
      const entry = newExpectation(expect, extended && message.code !== FrontendCode.Query && message.code !== FrontendCode.FunctionCall, sync);
      entry.copyEndsBefore = copy.endsSent;
      if (expect === Expect.UntilReady && ++this.roundTrips % ROUND_TRIP_SAMPLE === 0) this.timeRoundTrip(entry);
      if (this.sampleStatement !== null && (message.code === FrontendCode.Query || message.code === FrontendCode.Execute) && this.sampleStatement()) {
        logWhenDone(this.session.deps.log, entry, message.code === FrontendCode.Query ? queryKind(message.raw) : 'EXECUTE');
      }
      upstream.expect(entry);
    }
    return undefined;
  }

  private trackPipeline(code: number): void {
    if (code === FrontendCode.Sync || code === FrontendCode.Query) this.session.midPipeline = false;
    else if (code === FrontendCode.Parse || code === FrontendCode.Bind || code === FrontendCode.Execute ||
      code === FrontendCode.Describe || code === FrontendCode.Close ||
      // The end of an extended-protocol COPY is answered at the next Sync, which must therefore go upstream.
      code === FrontendCode.CopyData || code === FrontendCode.CopyDone || code === FrontendCode.CopyFail) this.session.midPipeline = true;
  }

  private timeRoundTrip(entry: ReturnType<typeof newExpectation>): void {
    const started = performance.now();
    const metrics = this.session.deps.metrics;
    entry.onDone = () => metrics.roundTripUpstream.observe((performance.now() - started) / 1000);
  }

  private classify(sql: string): Classification | VectorgateError {
    try {
      return this.session.deps.classifier.classify(sql, this.session.database);
    } catch (err) {
      return toVectorgateError(err);
    }
  }

  /**
   * A message read with its text in the session's client_encoding; bytes that are no text of it are
   * the statement's error (22021, as PostgreSQL reports them), framing errors stay FATAL.
   */
  private decodeText<T>(decode: () => T): T | VectorgateError {
    try {
      return decode();
    } catch (err) {
      const error = toVectorgateError(err);
      if (error.severity === 'FATAL') throw error;
      return error;
    }
  }

  private query(message: FrontendMessage): Promise<void> | undefined {
    noteStatementText(this.session, message.raw, 5, message.raw.length);
    if (!mayBeOurs(message.raw, 5, message.raw.length)) {
      this.session.deps.metrics.statementsUpstream.inc();
      return this.forward(message, Expect.UntilReady, false);
    }
    const sql = this.decodeText(() => queryText(this.session, message.raw));
    const classification = sql instanceof VectorgateError ? sql : this.classify(sql);
    if (!(classification instanceof VectorgateError) && classification.route === 'upstream') {
      this.session.deps.metrics.statementsUpstream.inc();
      return this.forward(message, Expect.UntilReady, false);
    }
    return this.whenIdle(() => runSimpleQuery(this.session, classification, (work) => this.run(work)));
  }

  private parse(message: FrontendMessage): Promise<void> | undefined {
    noteStatementText(this.session, message.raw, 5, message.raw.length);
    if (!mayBeOurs(message.raw, 5, message.raw.length)) {
      const name = parseName(message.raw);
      if (name === '') {
        this.table.statements.set('', 'upstream');
        return this.forward(message, Expect.ParseComplete, false);
      }
    }
    const decoded = this.decodeText(() => parseMessage(this.session, message.raw));
    if (decoded instanceof VectorgateError) return this.local(() => { throw decoded; });
    const parse = decoded;
    const classification = this.classify(parse.sql);
    if (!(classification instanceof VectorgateError) && classification.route === 'upstream') {
      const duplicate = this.attempt(() => this.table.setStatement(parse.name, 'upstream'));
      if (duplicate) return this.local(() => { throw duplicate; });
      return this.forward(message, Expect.ParseComplete, false);
    }
    return this.local((w) => {
      if (classification instanceof VectorgateError) throw classification;
      if (this.session.txStatus === 'E') throw inFailedTransaction();
      if (classification.parts.length !== 1) {
        throw new VectorgateError(SqlState.SyntaxError, 'cannot insert multiple commands into a prepared statement');
      }
      const { plan, error } = classification.parts[0]!;
      if (error !== null) throw error;
      if (plan === null) throw new VectorgateError(SqlState.FeatureNotSupported, 'statement mixes local and upstream parts');
      this.table.setStatement(parse.name, { plan, paramTypes: parse.paramTypes });
      writeEmpty(w, BackendCode.ParseComplete);
    });
  }

  private bind(message: FrontendMessage): Promise<void> | undefined {
    const names = decodeBindNames(message.raw);
    const statement = this.table.statements.get(names.statement);
    if (statement === undefined || statement === 'upstream') {
      if (this.table.portals.get(names.portal) !== undefined) this.table.portals.delete(names.portal);
      return this.forward(message, Expect.BindComplete, false);
    }
    return this.local(async (w) => {
      if (this.session.txStatus === 'E') throw inFailedTransaction();
      if (statement.plan.compose) {
        await this.run((ctx) => bindComposed(this.session, statement.plan, decodeBind(message.raw), ctx));
        return;
      }
      this.table.setPortal(names.portal, bindLocal(statement, decodeBind(message.raw)));
      writeEmpty(w, BackendCode.BindComplete);
    });
  }

  private describe(message: FrontendMessage): Promise<void> | undefined {
    const target = decodeDescribe(message.raw);
    const route = target.kind === 'S' ? this.table.statements.get(target.name) : this.table.portals.get(target.name);
    if (route === undefined || route === 'upstream') return this.forward(message, Expect.Description, false);
    return this.local(async (w) => {
      const statement = route as LocalStatement;
      if (target.kind === 'S' && statement.plan.compose) await describeComposed(this.session, statement.plan, statement.paramTypes);
      else if (target.kind === 'S') describeStatement(w, statement);
      else describeRows(w, route.plan.columns, (route as LocalPortal).resultFormats);
    });
  }

  private execute(message: FrontendMessage): Promise<void> | undefined {
    const { portal, maxRows } = decodeExecute(message.raw);
    const route = this.table.portals.get(portal);
    if (route === undefined || route === 'upstream') {
      this.session.deps.metrics.statementsUpstream.inc();
      return this.forward(message, Expect.Completion, false);
    }
    return this.local(async (w) => {
      if (this.session.txStatus === 'E') throw inFailedTransaction();
      const started = performance.now();
      const sampled = this.sampleStatement?.() ?? false;
      const position = route.position;
      let failed = true;
      try {
        if (route.plan.copyIn) writeCommandComplete(w, await this.run((ctx) => runLocalCopy(this.session, route.plan, ctx)));
        else await this.run((ctx) => executePortal(w, route, maxRows, ctx, this.session.rowOutput));
        failed = false;
      } finally {
        if (sampled) {
          const rows = route.plan.copyIn ? null : route.position - position;
          logStatement(this.session.deps.log, { route: 'local', kind: route.plan.copyIn ? 'COPY' : 'EXECUTE', startedMs: started, rows, failed });
        }
      }
      this.session.deps.metrics.statementsLocal.inc();
      this.session.deps.metrics.statementLocal.observe((performance.now() - started) / 1000);
    });
  }

  private closeMessage(message: FrontendMessage): Promise<void> | undefined {
    const target = decodeClose(message.raw);
    const map: Map<string, unknown> = target.kind === 'S' ? this.table.statements : this.table.portals;
    const route = map.get(target.name);
    map.delete(target.name);
    if (route === undefined || route === 'upstream') return this.forward(message, Expect.CloseComplete, false);
    return this.local((w) => writeEmpty(w, BackendCode.CloseComplete));
  }

  private readyLocally(): void {
    const w = new MessageWriter(8);
    writeReadyForQuery(w, this.session.txStatus);
    this.session.writeClient(w.finish());
  }

  private attempt(fn: () => void): VectorgateError | null {
    try {
      fn();
      return null;
    } catch (err) {
      return toVectorgateError(err);
    }
  }

  /** Runs `work` once every earlier upstream response has reached the client. */
  whenIdle(work: () => Promise<void>): Promise<void> {
    return this.session.upstream!.whenIdle().then(() => (this.session.phase === 'closed' ? undefined : work()));
  }

  /**
   * An extended-protocol message answered locally. On error the client gets ErrorResponse, later
   * messages are dropped until Sync, and the upstream's implicit or explicit transaction is failed
   * too, so that its ReadyForQuery and any rollback match what PostgreSQL itself would have done.
   */
  private local(work: (w: MessageWriter) => void | Promise<void>): Promise<void> {
    return this.whenIdle(async () => {
      if (this.session.ignoreTillSync) return;
      const w = new MessageWriter();
      try {
        await work(w);
        this.session.holdClient(w.finish());
      } catch (err) {
        const error = toVectorgateError(err);
        if (error.severity === 'FATAL') throw error;
        const ew = new MessageWriter();
        writeError(ew, error);
        this.session.holdClient(ew.finish());
        this.session.ignoreTillSync = true;
        // Nothing of this implicit transaction went upstream: the Sync is answered here, and PostgreSQL
        // has nothing to roll back. Otherwise its transaction must fail too.
        if (this.session.midPipeline || this.session.txStatus !== 'I') poisonUpstream(this.session, true);
      }
    });
  }
}

/** A Parse's statement name, read without decoding the rest. */
function parseName(raw: Buffer): string {
  return raw[5] === 0 ? '' : new BodyReader(raw, 5).cstring();
}

export function inFailedTransaction(): VectorgateError {
  return new VectorgateError(SqlState.InFailedTransaction, 'current transaction is aborted, commands ignored until end of transaction block');
}

const POISON_SQL = 'vectorgate: a local statement failed; this transaction is aborted';

/** Makes the upstream fail its current transaction with a statement that cannot parse; its error is not shown. */
export function poisonUpstream(session: Session, extended: boolean): void {
  const upstream = session.upstream!;
  const w = new MessageWriter(128);
  if (extended) {
    w.begin(FrontendCode.Parse).cstring('vectorgate_poison').cstring(POISON_SQL).int16(0).end();
  } else {
    w.begin(FrontendCode.Query).cstring(POISON_SQL).end();
  }
  const entry = newExpectation(extended ? Expect.ParseComplete : Expect.UntilReady, extended);
  entry.swallow = 'all';
  upstream.write(w.finish());
  upstream.expect(entry);
  if (extended) session.midPipeline = true;
}

/** A NoticeResponse to the client now, after the responses held before it. */
function sendNotice(session: Session, notice: Notice): void {
  const w = new MessageWriter(128);
  writeNotice(w, notice);
  session.writeClient(w.finish());
}

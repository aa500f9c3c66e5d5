// What the proxy needs to answer a statement itself: its row shape, its parameters, and how to run it.
// Plans are made once per SQL text (cached) and executed per Bind/Query with that call's parameters.
import type { PgType } from './pg-types.ts';
import type { VectorgateError } from '../errors.ts';
import type { Collections, SearchExplanation, SessionPositions } from '../router/collections.ts';
import type { ResolvedPolicy } from '../router/policies.ts';
import type { Access, Tenant } from './access-types.ts';

export interface ResultColumn {
  name: string;
  type: PgType;
}

/** A parameter value as it came in a Bind (or null for SQL NULL), with its format code. */
export interface ParamValue {
  value: Buffer | null;
  format: number;
}

export interface ExecContext {
  /** Aborted when the client cancels or the statement times out. */
  signal: AbortSignal;
  /** This session's write positions per collection (what `session` reads wait for). */
  positions: SessionPositions;
  /** The vector collections; null when the proxy runs without them. */
  collections: Collections | null;
  /** Who is asking (the principal PostgreSQL authenticated) and what it may do with collections. */
  access: Access;
  /** The quotas of the session's tenant (its login role). */
  tenant: Tenant;
  /** The current role is a superuser (PostgreSQL's is_superuser ParameterStatus when the statement started). */
  superuser: boolean;
  /** This session's `vectorgate.*` settings (SET / RESET), by name without the prefix. */
  settings: Map<string, string>;
  /** Which of `settings` came from SET LOCAL in the open transaction block (resolution order tells them apart). */
  localSettings: ReadonlySet<string>;
  /** The session's client_encoding (PostgreSQL's name) that text parameters come in; absent: UTF8. */
  clientEncoding?: string;
  /**
   * Runs a read-only, parameterless query upstream inside the client's session and transaction
   * (e.g. `SELECT current_setting('vectorgate.ef_search', true)`); rows in text form.
   */
  queryUpstream(sql: string): Promise<(string | null)[][]>;
  /** A vectorgate.* setting is being changed upstream: read them back before the next local statement. */
  touchSettings(change: { name: string; local: boolean }): void;
  /**
   * Sets the statement's time limit (ms from its start; 0 = none), replacing the one armed from the
   * session's vectorgate.statement_timeout; past it the signal aborts with 57014.
   */
  limitTime(timeoutMs: number): void;
  /** Milliseconds left before the statement's time limit (Infinity without one): a step that may fall back (rerank) ends before it. */
  remainingMs(): number;
  /**
   * The session's transaction status when the statement started, as PostgreSQL's last ReadyForQuery
   * said: 'I' idle, 'T' in a transaction block, 'E' in a failed one.
   * https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-READYFORQUERY
   */
  transactionStatus: 'I' | 'T' | 'E';
  /**
   * Sends a NoticeResponse ahead of the statement's result (PostgreSQL sends them as they arise); a
   * bare string is a NOTICE with SQLSTATE 00000. The same message goes out once per statement.
   */
  notice(notice: Notice | string): void;
  /** notice(), at most once per transaction block for a given key (every time outside one). */
  noticeOncePerTransaction(key: string, notice: Notice): void;
  /** Set while EXPLAIN runs: each vector search records how it was answered here. */
  explain?: ExplainedCall[];
}

/** A NoticeResponse's fields. https://www.postgresql.org/docs/current/protocol-error-fields.html */
export interface Notice {
  severity: 'WARNING' | 'NOTICE';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

export interface ExplainedCall {
  collection: string;
  filter: string | null;
  explanation: SearchExplanation;
  /** The policies the search ran with, each with where its value came from. */
  policies: Record<'ef_search' | 'read_consistency' | 'rescore' | 'oversample' | 'rerank' | 'search_cache', ResolvedPolicy>;
}

/** Receives a COPY ... FROM STDIN's data for a collection; the wire feeds it CopyData bytes. */
export interface CopySink {
  /** Takes the next CopyData payload; resolves when it may take more (batches are durable). */
  write(data: Buffer): Promise<void>;
  /** CopyDone: flushes the last batch; returns the CommandComplete tag (`COPY n`). */
  end(): Promise<string>;
}

export interface LocalResult {
  rows: unknown[][];
  /** CommandComplete tag, e.g. `SELECT 1`. */
  commandTag: string;
}

export interface LocalPlan {
  /** Row shape; null for a statement that returns no rows (its Describe answers NoData). */
  columns: ResultColumn[] | null;
  /** Parameter type OIDs as PostgreSQL would infer them ($1 … $n). */
  paramTypes: number[];
  execute(ctx: ExecContext, params: ParamValue[]): Promise<LocalResult>;
  /** Present for a composed statement: PostgreSQL runs it after the vector calls are replaced. */
  compose?: ComposedPlan;
  /** Present for COPY ... FROM STDIN: the wire answers CopyInResponse and streams data into the sink. */
  copyIn?: {
    format: 'text' | 'csv' | 'binary';
    columns: number;
    /** Checks run before CopyInResponse (privileges), as PostgreSQL checks them before it enters COPY mode. */
    prepare(ctx: ExecContext): Promise<void>;
    open(ctx: ExecContext): CopySink;
  };
}

/** The statement PostgreSQL runs; `upstreamParams[i]` is the client parameter (0-based) that becomes $i+1. */
export interface RewrittenStatement {
  sql: string;
  upstreamParams: number[];
}

export interface ComposedPlan {
  /** Runs the vector calls with this execution's parameters; returns the statement for PostgreSQL. */
  rewrite(ctx: ExecContext, params: ParamValue[]): Promise<RewrittenStatement>;
  /** The statement with empty vector results, to Describe upstream; types of the parameters only vector calls use (0: PostgreSQL's). */
  shape(): RewrittenStatement & { paramTypes: number[] };
}

/**
 * One statement of a SQL text: answered locally (plan), passed through (plan and error null), or
 * ours but wrong (error), which is raised when that statement's turn comes, as PostgreSQL would.
 */
export interface StatementPart {
  /** The statement's own text, as sent. */
  sql: string;
  plan: LocalPlan | null;
  error: VectorgateError | null;
}

export type Classification =
  | { route: 'upstream' }
  | { route: 'local'; parts: StatementPart[] };

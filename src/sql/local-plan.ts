// What the proxy needs to answer a statement itself: its row shape, its parameters, and how to run it.
// Plans are made once per SQL text (cached) and executed per Bind/Query with that call's parameters.
import type { PgType } from './pg-types.ts';
import type { VectorgateError } from '../errors.ts';

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

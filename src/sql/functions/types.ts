// The shape every local function has: its parameter lists (overloads), its result columns, and how to
// run one call. A scalar function returns one row of one column; a set-returning one any rows.
import { SqlState, VectorgateError } from '../../errors.ts';
import type { Args, ParamSpec } from '../args.ts';
import type { ExecContext, ResultColumn } from '../local-plan.ts';
import type { DatabaseCollections } from '../../router/database-collections.ts';

export interface Overload {
  params: readonly ParamSpec[];
  run(ctx: ExecContext, args: Args): Promise<unknown[][]>;
}

export interface LocalFunction {
  name: string;
  /** True for functions used as `SELECT * FROM f(...)` (RETURNS TABLE / SETOF). */
  set: boolean;
  /** Result columns; a scalar function has one, named after the function. */
  columns: readonly ResultColumn[];
  overloads: readonly Overload[];
}

const SQL_TYPE_NAMES = { text: 'text', int: 'integer', jsonb: 'jsonb', vector: 'real[]' } as const;

/** `vector_search(collection text, vector real[], k integer, ...)`, for hints. */
export function signatureText(fn: LocalFunction): string {
  return fn.overloads
    .map((o) => `${fn.name}(${o.params.map((p) => `${p.name} ${SQL_TYPE_NAMES[p.kind]}`).join(', ')})`)
    .join(' or ');
}

/** The collections of the session's database; a proxy started without them answers 0A000. */
export function collectionsOf(ctx: ExecContext): DatabaseCollections {
  if (ctx.collections === null) {
    throw new VectorgateError(SqlState.FeatureNotSupported, 'vector collections are not enabled on this proxy');
  }
  if (ctx.signal.aborted) throw new VectorgateError(SqlState.QueryCanceled, 'canceling statement due to user request');
  return ctx.collections.in(ctx.access.database, ctx.positions);
}

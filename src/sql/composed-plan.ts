// The plan of a composed statement: vector functions as FROM items of an ordinary query (joins, CTEs,
// subqueries, INSERT … SELECT, CREATE TABLE AS). Each execution runs the vector calls with that
// execution's parameters, substitutes their rows on a fresh copy of the parse tree, and deparses it.
import { Args, paramTypesOf, type Node } from './args.ts';
import { bindCall } from './select-plan.ts';
import { deparse, findVectorCalls, refuseStoredQueries, renumberParams, substitute, walk, type CallResult, type VectorCall } from './compose.ts';
import type { LocalFunction } from './functions/types.ts';
import type { ComposedPlan, ExecContext, LocalPlan, ParamValue, RewrittenStatement } from './local-plan.ts';
import type { PgType } from './pg-types.ts';

type Lookup = (call: Node) => LocalFunction | null;

/** SQL spelling of a result type, for the casts in the VALUES list. */
function sqlTypeOf(type: PgType): string {
  return type.name.startsWith('_') ? `pg_catalog.${type.name.slice(1)}[]` : `pg_catalog.${type.name}`;
}

/** A plan when every use of our functions in `stmt` is a FROM item we can evaluate; else null. */
export function planComposed(stmt: Node, lookup: Lookup, callCount: number): LocalPlan | null {
  const isOurs = (name: string) => lookup({ funcname: [{ String: { sval: name } }] }) !== null;
  refuseStoredQueries(stmt, isOurs);
  const calls = findVectorCalls(stmt, isOurs);
  if (calls.length === 0 || calls.length !== callCount) return null;
  const bound = calls.map((c) => ({ fn: lookup(c.call)!, ...bindCall(lookup(c.call)!, c.call) }));
  const template = JSON.stringify(stmt);
  const paramCount = maxParam(stmt);
  const paramTypes = new Array<number>(paramCount).fill(0);
  for (const b of bound) paramTypesOf(b.bound, b.overload.params).forEach((oid, i) => { if (oid && !paramTypes[i]) paramTypes[i] = oid; });

  const rewriteWith = (results: CallResult[]): RewrittenStatement => {
    const tree = JSON.parse(template) as Node;
    const fresh = findVectorCalls(tree, (name) => calls.some((c) => c.name === name));
    fresh.forEach((call: VectorCall, i) => substitute(call, results[i]!));
    const originals = renumberParams(tree);
    return { sql: deparse(tree), upstreamParams: originals.map((n) => n - 1) };
  };
  const compose: ComposedPlan = {
    async rewrite(ctx: ExecContext, params: ParamValue[]) {
      const results = await Promise.all(bound.map(async (b) => ({
        columns: b.fn.columns.map((c) => ({ name: c.name, type: c.type, sqlType: sqlTypeOf(c.type) })),
        rows: await b.overload.run(ctx, new Args(b.fn.name, b.bound, params, ctx.clientEncoding)),
      })));
      return rewriteWith(results);
    },
    shape() {
      const empty = bound.map((b) => ({ columns: b.fn.columns.map((c) => ({ name: c.name, type: c.type, sqlType: sqlTypeOf(c.type) })), rows: [] }));
      return { ...rewriteWith(empty), paramTypes };
    },
  };
  return {
    columns: null,
    paramTypes,
    compose,
    execute: () => Promise.reject(new Error('a composed statement runs upstream')),
  };
}

function maxParam(stmt: Node): number {
  let max = 0;
  walk(stmt, (node) => {
    const ref = node.ParamRef as Node | undefined;
    if (ref !== undefined) max = Math.max(max, Number(ref.number));
    return true;
  });
  return max;
}

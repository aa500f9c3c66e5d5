// Plans the two statement shapes the proxy answers on its own:
//   SELECT f(...) [AS a]                                         (scalar functions)
//   SELECT * | cols FROM f(...) [[AS] alias [(col aliases)]]     (any function, as a FROM item)
// Column naming follows PostgreSQL's rules for function calls in FROM:
// https://www.postgresql.org/docs/current/queries-table-expressions.html#QUERIES-TABLEFUNCTIONS
// Any other statement using our functions is composition, which issue 4 rewrites; here it is 0A000.
import { SqlState, VectorgateError } from '../errors.ts';
import { Args, bindArgs, paramTypesOf, readArgs, type BoundArgs, type Node } from './args.ts';
import type { LocalPlan, ResultColumn } from './local-plan.ts';
import { signatureText, type LocalFunction, type Overload } from './functions/types.ts';

export type FunctionLookup = (call: Node) => LocalFunction | null;

/** A plan for the SELECT, or null when it is not one of the two shapes (the caller answers 0A000). */
export function planSelect(select: Node, lookup: FunctionLookup): LocalPlan | null {
  if (select.op !== 'SETOP_NONE') return null;
  const keys = Object.keys(select).filter((key) => key !== 'limitOption' && key !== 'op');
  if (keys.length === 1 && keys[0] === 'targetList') return planTargetCall(select.targetList as Node[], lookup);
  if (keys.length === 2 && keys.includes('targetList') && keys.includes('fromClause')) {
    return planFromCall(select.targetList as Node[], select.fromClause as Node[], lookup);
  }
  return null;
}

/** A plain call: no FILTER, OVER, ORDER BY inside, DISTINCT or VARIADIC. */
function plainCall(node: Node | undefined): Node | null {
  const call = node?.FuncCall as Node | undefined;
  if (call === undefined) return null;
  const extra = Object.keys(call).filter((key) => !['funcname', 'args', 'funcformat', 'location'].includes(key));
  return extra.length === 0 ? call : null;
}

function planTargetCall(targets: Node[], lookup: FunctionLookup): LocalPlan | null {
  if (targets.length !== 1) return null;
  const res = targets[0]!.ResTarget as Node;
  const call = plainCall(res.val as Node | undefined);
  const fn = call === null ? null : lookup(call);
  if (call === null || fn === null) return null;
  if (fn.set) {
    throw new VectorgateError(SqlState.FeatureNotSupported, `${fn.name}() returns a set of rows`, {
      hint: `Write SELECT * FROM ${fn.name}(...).`,
    });
  }
  const column = { name: (res.name as string | undefined) ?? fn.name, type: fn.columns[0]!.type };
  return buildPlan(fn, call, [column], [0]);
}

function planFromCall(targets: Node[], from: Node[], lookup: FunctionLookup): LocalPlan | null {
  if (from.length !== 1) return null;
  const range = from[0]!.RangeFunction as Node | undefined;
  if (range === undefined) return null;
  const allowed = ['functions', 'alias'];
  if (Object.keys(range).some((key) => !allowed.includes(key))) return null;
  const functions = range.functions as Node[];
  const items = (functions.length === 1 ? ((functions[0]!.List as Node).items as Node[]) : []);
  const call = plainCall(items[0]);
  const fn = call === null ? null : lookup(call);
  if (call === null || fn === null || items.length !== 2) return null;
  const alias = range.alias as Node | undefined;
  const available = namedColumns(fn, alias);
  const rangeName = (alias?.aliasname as string | undefined) ?? fn.name;
  const picked = targets.flatMap((t) => pickColumns(t.ResTarget as Node, available, rangeName));
  if (picked.some((p) => p === null)) return null;
  const chosen = picked as { column: ResultColumn; index: number }[];
  return buildPlan(fn, call, chosen.map((p) => p.column), chosen.map((p) => p.index));
}

/** The function's columns after `AS alias (a, b)`; a scalar function's one column takes the alias name. */
function namedColumns(fn: LocalFunction, alias: Node | undefined): ResultColumn[] {
  const colnames = ((alias?.colnames as Node[] | undefined) ?? []).map((n) => String((n.String as Node).sval));
  if (colnames.length > fn.columns.length) {
    throw new VectorgateError(SqlState.SyntaxError,
      `table "${String(alias!.aliasname)}" has ${fn.columns.length} columns available but ${colnames.length} columns specified`);
  }
  return fn.columns.map((c, i) => ({
    name: colnames[i] ?? (!fn.set && alias !== undefined ? String(alias.aliasname) : c.name),
    type: c.type,
  }));
}

/** `*`, `s.*`, `col`, `s.col` with an optional `AS name`; null for anything else (an expression). */
function pickColumns(res: Node, available: ResultColumn[], rangeName: string): ({ column: ResultColumn; index: number } | null)[] {
  const ref = (res.val as Node | undefined)?.ColumnRef as Node | undefined;
  if (ref === undefined) return [null];
  const fields = ref.fields as Node[];
  const last = fields[fields.length - 1]!;
  if (fields.length > 2) return [null];
  if (fields.length === 2) {
    const qualifier = String((fields[0]!.String as Node).sval);
    if (qualifier !== rangeName) throw new VectorgateError(SqlState.UndefinedTable, `missing FROM-clause entry for table "${qualifier}"`);
  }
  if (last.A_Star !== undefined) return available.map((column, index) => ({ column, index }));
  const name = String((last.String as Node).sval);
  const index = available.findIndex((c) => c.name === name);
  if (index < 0) throw new VectorgateError(SqlState.UndefinedColumn, `column "${name}" does not exist`);
  const as = res.name as string | undefined;
  return [{ column: { name: as ?? name, type: available[index]!.type }, index }];
}

export function bindCall(fn: LocalFunction, call: Node): { overload: Overload; bound: BoundArgs } {
  const args = readArgs(call, fn.name);
  for (const overload of fn.overloads) {
    const bound = bindArgs(args, overload.params);
    if (bound !== null) return { overload, bound };
  }
  const shown = args.map((a) => (a.name === null ? '' : `${a.name} => `) + ('param' in a.source ? `$${a.source.param + 1}` : 'unknown'));
  throw new VectorgateError(SqlState.UndefinedFunction, `function ${fn.name}(${shown.join(', ')}) does not exist`, {
    hint: `The function is ${signatureText(fn)}.`,
  });
}

/** The plan runs the call once per execution and projects the chosen columns out of its rows. */
function buildPlan(fn: LocalFunction, call: Node, columns: ResultColumn[], indices: number[]): LocalPlan {
  const { overload, bound } = bindCall(fn, call);
  const identity = indices.length === fn.columns.length && indices.every((v, i) => v === i);
  return {
    columns,
    paramTypes: paramTypesOf(bound, overload.params),
    async execute(ctx, params) {
      const rows = await overload.run(ctx, new Args(fn.name, bound, params, ctx.clientEncoding));
      const out = identity ? rows : rows.map((row) => indices.map((i) => row[i]));
      return { rows: out, commandTag: `SELECT ${out.length}` };
    },
  };
}

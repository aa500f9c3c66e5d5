// Composed statements: a vector function standing as a FROM item of an ordinary query. The proxy runs
// the vector calls first, then hands PostgreSQL the statement with each call replaced by a typed VALUES
// list under the alias and column names the user gave — on the parse tree, deparsed, never by pasting
// strings. Parameters the vector calls used are dropped and the rest renumbered for the upstream.
//
// Why a stored value can never become SQL, whatever the session's client_encoding: every value goes up
// as convert_from(decode('<hex>', 'hex'), 'UTF8') cast to its column's type, so the only bytes of a
// value in the statement are the ASCII hex digits 0-9a-f. PostgreSQL converts a statement from the
// client encoding before it lexes it, and in every client encoding it allows, ASCII bytes that follow
// whole characters are those ASCII characters (a multibyte character's trail byte may be 0x5C `\` in
// SJIS, BIG5 or GBK, which is how a quoted literal ending in a lead byte lost its closing quote before;
// with hex digits there is no quote, backslash or lead byte of ours to pair with). The rest of the text
// is the client's own statement, deparsed and encoded back in its encoding (src/wire/client-text.ts).
// The value is decoded by the server as UTF-8 bytes, so it arrives exactly as stored, and PostgreSQL
// itself converts it to the client's encoding in the result (or says it cannot, 22P05).
// https://www.postgresql.org/docs/current/multibyte.html
// https://www.postgresql.org/docs/current/runtime-config-compatible.html#GUC-BACKSLASH-QUOTE
import { deparseSync } from 'pgsql-deparser';
import { SqlState, VectorgateError } from '../errors.ts';
import type { PgType } from './pg-types.ts';

export type Node = Record<string, unknown>;

/** One vector function in FROM position: where it sits, so it can be replaced. */
export interface VectorCall {
  /** The array or node holding the RangeFunction, and its index or key there. */
  parent: Record<string | number, unknown>;
  key: string | number;
  call: Node;
  name: string;
  /** Alias name and column aliases as written, if any. */
  alias: { aliasname: string; colnames?: Node[] } | null;
}

export interface CallResult {
  columns: { name: string; type: PgType; sqlType: string }[];
  rows: unknown[][];
}

const FUNCTION_ALIAS_HINT = 'Pass constants or $n parameters to vector functions; join their result with the table instead.';

/** Finds every RangeFunction of ours; any other use of our functions in the tree is 0A000. */
export function findVectorCalls(stmt: Node, isOurs: (name: string) => boolean): VectorCall[] {
  const found: VectorCall[] = [];
  walk(stmt, (node, parent, key) => {
    const range = node.RangeFunction as Node | undefined;
    if (range === undefined || parent === null) return true;
    const call = onlyFunction(range);
    const name = call ? funcName(call) : null;
    if (call === null || name === null || !isOurs(name)) return true;
    if (range.lateral || range.ordinality || containsColumnRef(call.args)) {
      throw new VectorgateError(SqlState.FeatureNotSupported, `${name}() cannot take arguments from other FROM items (LATERAL or correlated)`, { hint: FUNCTION_ALIAS_HINT });
    }
    found.push({ parent, key, call, name, alias: (range.alias as VectorCall['alias']) ?? null });
    return false;
  });
  return found;
}

/** Statements whose query PostgreSQL keeps and runs again later, without the proxy. */
const STORED_QUERIES: Record<string, string> = {
  ViewStmt: 'a view',
  RuleStmt: 'a rule',
  CreateFunctionStmt: 'a function body',
  CreateTrigStmt: 'a trigger',
  CreatePolicyStmt: 'a policy',
  PrepareStmt: 'a prepared statement',
};

/**
 * Refuses our functions inside a query PostgreSQL would store: substituting this execution's rows
 * there would freeze one search's answer into the view (or rule, function, PREPARE) and serve it later
 * as if it had searched again.
 */
export function refuseStoredQueries(stmt: Node, isOurs: (name: string) => boolean): void {
  walk(stmt, (node) => {
    const ctas = node.CreateTableAsStmt as Node | undefined;
    const kind = ctas?.objtype === 'OBJECT_MATVIEW' ? 'a materialized view' : STORED_QUERIES[Object.keys(node)[0] ?? ''];
    if (kind === undefined) return true;
    let name: string | null = null;
    walk(node, (inner) => {
      const call = inner.FuncCall as Node | undefined;
      const called = call ? funcName(call) : null;
      if (called !== null && isOurs(called)) name = called;
      return name === null;
    });
    if (name !== null) {
      throw new VectorgateError(SqlState.FeatureNotSupported, `${name}() cannot be stored in ${kind}: PostgreSQL would replay one search's rows instead of searching again`, {
        hint: `Send the vector call through vectorgate with each query, e.g. SELECT … FROM ${name}(...) AS s JOIN a view of the table USING (id).`,
      });
    }
    return false;
  });
}

function onlyFunction(range: Node): Node | null {
  const functions = range.functions as Node[] | undefined;
  if (!functions || functions.length !== 1) return null;
  const items = (functions[0]!.List as Node | undefined)?.items as Node[] | undefined;
  return (items?.[0]?.FuncCall as Node | undefined) ?? null;
}

export function funcName(call: Node): string | null {
  const parts = call.funcname as Node[] | undefined;
  if (!parts || parts.length === 0 || parts.length > 2) return null;
  const names = parts.map((p) => (p.String as Node | undefined)?.sval as string | undefined);
  if (names.length === 2 && names[0] !== 'public' && names[0] !== 'vectorgate') return null;
  return names[names.length - 1] ?? null;
}

function containsColumnRef(node: unknown): boolean {
  let found = false;
  walk(node, (n) => {
    if (n.ColumnRef !== undefined) found = true;
    return !found;
  });
  return found;
}

type Parent = Record<string | number, unknown>;

/** Depth-first over parse nodes with where each sits; `visit` returns false to skip its children. */
export function walk(node: unknown, visit: (node: Node, parent: Parent | null, key: string | number) => boolean, parent: Parent | null = null, key: string | number = ''): void {
  if (Array.isArray(node)) {
    node.forEach((item, i) => walk(item, visit, node as unknown as Parent, i));
    return;
  }
  if (node === null || typeof node !== 'object') return;
  if (!visit(node as Node, parent, key)) return;
  for (const [field, value] of Object.entries(node as Node)) {
    if (value !== null && typeof value === 'object') walk(value, visit, node as Parent, field);
  }
}

function str(text: string): Node {
  return { String: { sval: text } };
}

function typeName(sqlType: string): Node {
  return { names: sqlType.split('.').map(str), typemod: -1 };
}

function stringConst(text: string): Node {
  return { A_Const: { sval: { sval: text } } };
}

function call(name: string, args: Node[]): Node {
  return { FuncCall: { funcname: [str('pg_catalog'), str(name)], args, funcformat: 'COERCE_EXPLICIT_CALL' } };
}

/**
 * A value as `pg_catalog.convert_from(pg_catalog.decode('<hex of its UTF-8 text>', 'hex'), 'UTF8')::type`:
 * only hex digits between the quotes (see the header for why that is safe in every client encoding).
 */
function literal(value: unknown, type: PgType, sqlType: string): Node {
  if (value === null || value === undefined) return { TypeCast: { arg: { A_Const: { isnull: true } }, typeName: typeName(sqlType) } };
  const hex = Buffer.from(type.text(value), 'utf8').toString('hex');
  const text = call('convert_from', [call('decode', [stringConst(hex), stringConst('hex')]), stringConst('UTF8')]);
  return { TypeCast: { arg: text, typeName: typeName(sqlType) } };
}

/** Replaces the call with `(VALUES (…), …) AS alias(cols)`, or an empty typed SELECT when no rows. */
export function substitute(target: VectorCall, result: CallResult): void {
  const colnames = target.alias?.colnames ?? result.columns.map((c) => str(c.name));
  const alias = { aliasname: target.alias?.aliasname ?? target.name, colnames };
  const subquery = result.rows.length > 0
    ? { SelectStmt: { valuesLists: result.rows.map((row) => ({ List: { items: row.map((v, i) => literal(v, result.columns[i]!.type, result.columns[i]!.sqlType)) } })), limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } }
    : { SelectStmt: {
      targetList: result.columns.map((c) => ({ ResTarget: { val: literal(null, c.type, c.sqlType) } })),
      whereClause: { A_Const: { boolval: {} } },
      limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE',
    } };
  target.parent[target.key] = { RangeSubselect: { subquery, alias } };
}

/**
 * Renumbers the ParamRefs left in the tree to $1..$m in order of their original numbers; returns,
 * for each new number, the original one (so Bind values can be picked for the upstream).
 */
export function renumberParams(stmt: Node): number[] {
  const refs: Node[] = [];
  walk(stmt, (node) => {
    const ref = node.ParamRef as Node | undefined;
    if (ref !== undefined) refs.push(ref);
    return true;
  });
  const originals = [...new Set(refs.map((r) => Number(r.number)))].sort((a, b) => a - b);
  const renumber = new Map(originals.map((n, i) => [n, i + 1]));
  for (const ref of refs) ref.number = renumber.get(Number(ref.number));
  return originals;
}

export function deparse(stmt: Node): string {
  return deparseSync({ version: 180004, stmts: [{ stmt }] } as never, { pretty: false } as never);
}

// Binding a call's arguments to a function's parameters, as PostgreSQL does: positional arguments
// first, then named ones (`name => value`), defaults for the rest.
// https://www.postgresql.org/docs/current/sql-syntax-calling-funcs.html
// An argument is a constant (kept as its text form, so constants and text-format parameters decode the
// same way) or a `$n` parameter, possibly with a cast. Anything else is for issue 4's rewriting.
import { SqlState, VectorgateError } from '../errors.ts';
import type { ParamValue } from './local-plan.ts';
import { decodeInt, decodeJsonText, decodeText, decodeVector, KIND_OIDS, type ArgKind } from './param-decode.ts';

export type Node = Record<string, unknown>;

export interface ParamSpec {
  name: string;
  kind: ArgKind;
  /** May be left out (named arguments only, or trailing positional ones). */
  optional?: boolean;
}

/** A constant's text (null for NULL), or a parameter's 0-based index. */
export type ArgSource = { text: string | null } | { param: number; castOid: number | null };

interface RawArg { name: string | null; source: ArgSource }

/** Type names a `$n::type` cast may name, with the OID Describe reports for that parameter. */
const CAST_OIDS: Readonly<Record<string, number>> = {
  text: 25, varchar: 1043, bpchar: 1042, name: 19, int2: 21, int4: 23, int8: 20, float4: 700, float8: 701,
  numeric: 1700, json: 114, jsonb: 3802, _float4: 1021, _float8: 1022, _int4: 1007, _int8: 1016, _numeric: 1231,
};

function notConstant(fn: string): VectorgateError {
  return new VectorgateError(SqlState.FeatureNotSupported, `arguments of ${fn}() must be constants or parameters`, {
    hint: 'Compute the value first and pass it as a literal or as a $n parameter.',
  });
}

function castOid(typeName: Node): number | null {
  const names = (typeName.names as Node[]).map((n) => (n.String as Node).sval as string);
  const base = names[names.length - 1]!;
  const key = Array.isArray(typeName.arrayBounds) ? `_${base}` : base;
  return CAST_OIDS[key] ?? (base === 'vector' ? KIND_OIDS.text : null);
}

/** The text of a constant as PostgreSQL's input functions would see it (zero fields are omitted in the JSON tree). */
export function constText(node: Node): string | null {
  if (node.isnull === true) return null;
  if (node.ival !== undefined) return String((node.ival as Node).ival ?? 0);
  if (node.fval !== undefined) return String((node.fval as Node).fval ?? '0');
  if (node.boolval !== undefined) return (node.boolval as Node).boolval === true ? 'true' : 'false';
  if (node.sval !== undefined) return String((node.sval as Node).sval ?? '');
  if (node.bsval !== undefined) return String((node.bsval as Node).bsval ?? '');
  return null;
}

/** ARRAY[1, 2.5, -3] as array text `{"1","2.5","-3"}`. */
function arrayText(node: Node, fn: string): string {
  const elements = (node.elements as Node[] | undefined) ?? [];
  const texts = elements.map((e) => {
    const c = e.A_Const as Node | undefined;
    if (c === undefined) throw notConstant(fn);
    const text = constText(c);
    return text === null ? 'NULL' : `"${text.replace(/["\\]/g, '\\$&')}"`;
  });
  return `{${texts.join(',')}}`;
}

function sourceOf(expr: Node, fn: string): ArgSource {
  if (expr.A_Const) return { text: constText(expr.A_Const as Node) };
  if (expr.A_ArrayExpr) return { text: arrayText(expr.A_ArrayExpr as Node, fn) };
  if (expr.ParamRef) return { param: Number((expr.ParamRef as Node).number) - 1, castOid: null };
  const cast = expr.TypeCast as Node | undefined;
  if (cast) {
    const inner = sourceOf(cast.arg as Node, fn);
    return 'param' in inner ? { param: inner.param, castOid: inner.castOid ?? castOid(cast.typeName as Node) } : inner;
  }
  throw notConstant(fn);
}

/** The call's arguments in order, each with its name when it was passed as `name => value`. */
export function readArgs(call: Node, fn: string): RawArg[] {
  const args = (call.args as Node[] | undefined) ?? [];
  let sawNamed = false;
  return args.map((arg) => {
    const named = arg.NamedArgExpr as Node | undefined;
    if (named) {
      sawNamed = true;
      return { name: String(named.name), source: sourceOf(named.arg as Node, fn) };
    }
    if (sawNamed) throw new VectorgateError(SqlState.SyntaxError, 'positional argument cannot follow named argument');
    return { name: null, source: sourceOf(arg, fn) };
  });
}

export type BoundArgs = ReadonlyMap<string, ArgSource>;

/** Binds arguments to one parameter list, or returns null when they do not fit it. */
export function bindArgs(args: readonly RawArg[], params: readonly ParamSpec[]): BoundArgs | null {
  const bound = new Map<string, ArgSource>();
  for (const [i, arg] of args.entries()) {
    const spec = arg.name === null ? params[i] : params.find((p) => p.name === arg.name);
    if (spec === undefined) return null;
    if (bound.has(spec.name)) {
      if (arg.name === null) return null;
      throw new VectorgateError(SqlState.SyntaxError, `argument name "${arg.name}" used more than once`);
    }
    bound.set(spec.name, arg.source);
  }
  return params.every((p) => p.optional || bound.has(p.name)) ? bound : null;
}

/** Parameter type OIDs ($1 … $n) as Describe reports them: a cast's type, else the argument's kind. */
export function paramTypesOf(bound: BoundArgs, params: readonly ParamSpec[]): number[] {
  const types: number[] = [];
  for (const spec of params) {
    const source = bound.get(spec.name);
    if (source === undefined || !('param' in source)) continue;
    types[source.param] ||= source.castOid ?? KIND_OIDS[spec.kind];
  }
  return Array.from(types, (oid) => oid ?? KIND_OIDS.text);
}

/** One execution's argument values, decoded on demand by kind. */
export class Args {
  /** `encoding`: the session's client_encoding, which text parameters come in (constants are decoded already). */
  constructor(private readonly fn: string, private readonly bound: BoundArgs, private readonly params: readonly ParamValue[],
    private readonly encoding = 'UTF8') {}

  private encodingOf(name: string): string {
    const source = this.bound.get(name);
    return source !== undefined && 'param' in source ? this.encoding : 'UTF8';
  }

  private value(name: string): ParamValue | null {
    const source = this.bound.get(name);
    if (source === undefined) return null;
    if ('text' in source) return source.text === null ? null : { value: Buffer.from(source.text, 'utf8'), format: 0 };
    const p = this.params[source.param];
    if (p === undefined) throw new VectorgateError(SqlState.ProtocolViolation, `there is no parameter $${source.param + 1}`);
    return p.value === null ? null : p;
  }

  private required(name: string): ParamValue {
    const v = this.value(name);
    if (v === null) throw new VectorgateError(SqlState.NullValueNotAllowed, `argument ${name} of ${this.fn}() must not be null`);
    return v;
  }

  has(name: string): boolean {
    return this.value(name) !== null;
  }

  text(name: string): string { return decodeText(this.required(name), this.encodingOf(name)); }
  int(name: string): number { return decodeInt(this.required(name), name); }
  json(name: string): string { return decodeJsonText(this.required(name), this.encodingOf(name)); }
  vector(name: string): Float32Array { return decodeVector(this.required(name)); }

  optText(name: string): string | undefined { return this.has(name) ? this.text(name) : undefined; }
  optInt(name: string): number | undefined { return this.has(name) ? this.int(name) : undefined; }
  optJson(name: string): string | undefined { return this.has(name) ? this.json(name) : undefined; }
}

// Decides, per SQL text, whether the proxy answers it or PostgreSQL does. A cheap text check first:
// without a `vector` (or `copy`) token nothing of ours can be in it, and it passes through unparsed. The rest is
// parsed by PostgreSQL's own parser (libpg-query, WASM) and walked for calls of our functions.
import { loadModule, parseSync } from 'libpg-query';
import { SqlState, VectorgateError } from '../errors.ts';
import type { Classification, LocalPlan, StatementPart } from './local-plan.ts';
import type { Collections } from '../router/collections.ts';
import { LOCAL_FUNCTIONS } from './functions/registry.ts';
import type { LocalFunction } from './functions/types.ts';
import { planSelect } from './select-plan.ts';
import { planCopy } from './copy-plan.ts';
import { planComposed } from './composed-plan.ts';
import { funcName as calledName } from './compose.ts';
import { planExplain } from './explain-plan.ts';
import { isOurSetting, planSet, planShow } from './settings.ts';

type Node = Record<string, unknown>;

// A COPY may target a collection, so it is parsed too; whether it does is decided afresh each time.
const MAYBE_OURS = /vector|copy/i;
const LOOKS_LIKE_A_CALL = /\bvector(gate)?_[a-z_]+\s*\(|\bvectorgate\.[a-z_]/i;

let loaded: Promise<void> | null = null;

/** Loads the parser's WASM module; call once before classify(). */
export function loadParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

/** What planning may look at: the catalog, to tell `COPY collection` from `COPY table`. */
export interface PlanEnv {
  collections: Collections | null;
}

export class Classifier {
  private readonly cache = new Map<string, Classification>();

  constructor(
    private readonly limits: { classifyCacheEntries: number; classifyCacheMaxSqlBytes: number; maxClassifiedSqlBytes: number },
    readonly env: PlanEnv = { collections: null },
  ) {}

  /**
   * Throws VectorgateError for a statement that uses our functions in a way we cannot answer.
   * database: the session's, for COPY (whether it targets one of that database's collections).
   */
  classify(sql: string, database: string): Classification {
    if (!MAYBE_OURS.test(sql)) return UPSTREAM;
    const cached = this.cache.get(sql);
    if (cached !== undefined) return cached;
    const bytes = Buffer.byteLength(sql);
    if (bytes > this.limits.maxClassifiedSqlBytes) {
      // Too big to parse cheaply: a big literal that merely mentions the word passes through; only
      // text that looks like a call of ours is refused, rather than guessed at.
      if (!LOOKS_LIKE_A_CALL.test(sql)) return UPSTREAM;
      throw new VectorgateError(SqlState.ProgramLimitExceeded, `statement of ${Buffer.byteLength(sql)} bytes exceeds the ${this.limits.maxClassifiedSqlBytes}-byte limit for vector statements`);
    }
    const { result, cacheable } = classifyParsed(sql, this.env, database);
    if (!cacheable || bytes > this.limits.classifyCacheMaxSqlBytes) return result;
    if (this.cache.size >= this.limits.classifyCacheEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(sql, result);
    return result;
  }
}

const UPSTREAM: Classification = Object.freeze({ route: 'upstream' });

/** Classifications of texts with a COPY are not cached: whether it targets a collection can change. */
function classifyParsed(sql: string, env: PlanEnv, database: string): { result: Classification; cacheable: boolean } {
  let tree: { stmts?: Node[] };
  try {
    tree = parseSync(sql) as { stmts?: Node[] };
  } catch {
    return { result: UPSTREAM, cacheable: true }; // PostgreSQL reports its own syntax errors.
  }
  const stmts = tree.stmts ?? [];
  const bytes = Buffer.from(sql, 'utf8');
  let anyLocal = false;
  let cacheable = true;
  const parts: StatementPart[] = stmts.map((raw, i) => {
    const start = Number(raw.stmt_location ?? 0);
    const length = Number(raw.stmt_len ?? 0);
    const end = length > 0 ? start + length : i === stmts.length - 1 ? bytes.length : start;
    const text = bytes.toString('utf8', start, end).trim();
    if ((raw.stmt as Node | undefined)?.CopyStmt !== undefined) cacheable = false;
    try {
      const plan = planStatement(raw.stmt as Node | undefined, env, database);
      if (plan !== null) anyLocal = true;
      return { sql: text, plan, error: null };
    } catch (err) {
      if (!(err instanceof VectorgateError)) throw err;
      anyLocal = true;
      return { sql: text, plan: null, error: err };
    }
  });
  return { result: anyLocal ? { route: 'local', parts } : UPSTREAM, cacheable };
}

function planStatement(stmt: Node | undefined, env: PlanEnv, database: string): LocalPlan | null {
  if (stmt === undefined) return null;
  const copy = stmt.CopyStmt as Node | undefined;
  if (copy !== undefined) return planCopy(copy, env.collections, database);
  const set = stmt.VariableSetStmt as Node | undefined;
  if (set !== undefined && isOurSetting(set.name)) return planSet(set);
  const show = stmt.VariableShowStmt as Node | undefined;
  if (show !== undefined && isOurSetting(show.name)) return planShow(show);
  const calls = findLocalCalls(stmt);
  if (calls.length === 0) return null;
  const explain = stmt.ExplainStmt as Node | undefined;
  if (explain !== undefined) {
    const inner = (explain.query as Node).SelectStmt as Node | undefined;
    const pure = inner !== undefined && calls.length === 1 && planSelect(structuredClone(inner), lookup) !== null;
    const plan = planExplain(explain, lookup, calls.length, pure);
    if (plan !== null) return plan;
  }
  const select = stmt.SelectStmt as Node | undefined;
  const plan = select !== undefined && calls.length === 1 ? planSelect(select, lookup) : null;
  if (plan !== null) return plan;
  const composed = planComposed(stmt, lookup, calls.length);
  if (composed !== null) return composed;
  const name = funcName(calls[0]!)!;
  const returnsSet = LOCAL_FUNCTIONS.get(name)!.set;
  throw new VectorgateError(SqlState.FeatureNotSupported, `${name}() can only be called on its own`, {
    hint: returnsSet
      ? `Write SELECT * FROM ${name}(...) (optionally with an alias and a column list) as a statement of its own.`
      : `Write SELECT ${name}(...) as a statement of its own.`,
  });
}

function lookup(call: Node): LocalFunction | null {
  const name = funcName(call);
  return name === null ? null : LOCAL_FUNCTIONS.get(name)!;
}

/** The name of a call of one of our functions (optionally public. or vectorgate. qualified), else null. */
function funcName(call: Node): string | null {
  const name = calledName(call);
  return name !== null && LOCAL_FUNCTIONS.has(name) ? name : null;
}

/** Every FuncCall node naming a local function, anywhere in the tree. */
function findLocalCalls(node: unknown, out: Node[] = []): Node[] {
  if (Array.isArray(node)) {
    for (const item of node) findLocalCalls(item, out);
  } else if (node !== null && typeof node === 'object') {
    const call = (node as Node).FuncCall as Node | undefined;
    if (call && funcName(call) !== null) out.push(call);
    for (const value of Object.values(node as Node)) findLocalCalls(value, out);
  }
  return out;
}

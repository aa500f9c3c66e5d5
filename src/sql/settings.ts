// SET / SET LOCAL / SHOW / RESET of vectorgate.* settings — the policies of src/router/policies.ts. The
// proxy validates them against the running config (42704 unknown name, 22023 bad value, PostgreSQL's
// own SQLSTATEs for its settings) and forwards the statement upstream, so PostgreSQL itself tracks them
// with its full rules — SET undone by ROLLBACK, SET LOCAL ending with the transaction, savepoints,
// RESET ALL — and `current_setting('vectorgate.x', true)` agrees. Before a local statement runs, the
// wire reads the effective values back into ExecContext.settings (src/wire/settings-sync.ts). Values
// are checked when the statement runs, as PostgreSQL checks SET: https://www.postgresql.org/docs/current/sql-set.html
import { DEFAULTS, type Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { POLICY_NAMES, checkPolicy, policyDef, resolvePolicy, type PolicyDef } from '../router/policies.ts';
import { constText, type Node } from './args.ts';
import type { ExecContext, LocalPlan } from './local-plan.ts';
import { TEXT } from './pg-types.ts';
import { isQuotaSetting } from './tenant-limits.ts';

const PREFIX = 'vectorgate.';

/** Every setting's name without the prefix, in a stable order. */
export const SETTING_NAMES: readonly string[] = POLICY_NAMES;

/** True for a SET/SHOW/RESET naming a vectorgate.* setting (names are lower-cased by the parser). */
export function isOurSetting(name: unknown): name is string {
  return typeof name === 'string' && name.startsWith(PREFIX);
}

function definition(fullName: string): PolicyDef {
  const def = policyDef(fullName.slice(PREFIX.length));
  if (def === undefined) throw new VectorgateError(SqlState.UndefinedObject, `unrecognized configuration parameter "${fullName}"`);
  return def;
}

export function configOf(ctx: ExecContext): Config {
  return ctx.collections?.config ?? DEFAULTS;
}

/** The text of `SET x = value`: one constant (number, string or identifier). */
function valueText(stmt: Node, fullName: string): string {
  const args = (stmt.args as Node[] | undefined) ?? [];
  if (args.length !== 1) throw new VectorgateError(SqlState.InvalidParameterValue, `SET ${fullName} takes only one argument`);
  const node = args[0]!;
  const c = (node.A_Const ?? ((node.TypeCast as Node | undefined)?.arg as Node | undefined)?.A_Const) as Node | undefined;
  const text = c === undefined ? null : constText(c);
  if (text === null) throw new VectorgateError(SqlState.InvalidParameterValue, `invalid value for parameter "${fullName}"`);
  return text;
}

/** Plans a VariableSetStmt (SET, SET LOCAL, SET ... TO DEFAULT, RESET) of one of our settings. */
export function planSet(stmt: Node): LocalPlan {
  const fullName = String(stmt.name);
  const local = stmt.is_local === true;
  const kind = String(stmt.kind);
  if (isQuotaSetting(fullName)) return planQuotaSet(fullName, local, kind);
  const def = definition(fullName);
  const prefix = `SET ${local ? 'LOCAL ' : ''}${fullName}`;
  let sql: (ctx: ExecContext) => string;
  if (kind === 'VAR_SET_VALUE') {
    const text = valueText(stmt, fullName);
    sql = (ctx) => {
      const canonical = checkValue(fullName, text, configOf(ctx));
      const notice = def.noticeFor(canonical);
      if (notice !== null) ctx.notice(notice);
      return `${prefix} = '${canonical.replace(/'/g, "''")}'`;
    };
  } else if (kind === 'VAR_SET_DEFAULT') {
    sql = () => `${prefix} TO DEFAULT`;
  } else if (kind === 'VAR_RESET') {
    sql = () => `RESET ${fullName}`;
  } else {
    throw new VectorgateError(SqlState.FeatureNotSupported, `this form of SET is not supported for ${fullName}`);
  }
  return forwarded(sql, { name: def.name, local: local && kind !== 'VAR_RESET' });
}

/**
 * A per-role quota (src/sql/tenant-limits.ts) is a role setting, like a superuser-only setting of
 * PostgreSQL's: SET [LOCAL] is refused (42501, or 55P02 for a superuser: it is read at session start,
 * not from the session's value). RESET and SET … TO DEFAULT change nothing the proxy reads, so they
 * go upstream as they are. https://www.postgresql.org/docs/current/sql-alterrole.html
 */
function planQuotaSet(fullName: string, local: boolean, kind: string): LocalPlan {
  const name = fullName.slice(PREFIX.length);
  if (kind === 'VAR_RESET') return forwarded(() => `RESET ${fullName}`, { name, local: false });
  if (kind === 'VAR_SET_DEFAULT') return forwarded(() => `SET ${local ? 'LOCAL ' : ''}${fullName} TO DEFAULT`, { name, local });
  return {
    columns: null,
    paramTypes: [],
    execute: async (ctx) => {
      if (!ctx.superuser) throw new VectorgateError(SqlState.InsufficientPrivilege, `permission denied to set parameter "${fullName}"`);
      throw new VectorgateError(SqlState.CantChangeRuntimeParam, `parameter "${fullName}" cannot be changed now`, {
        hint: `It is a per-role limit: ALTER ROLE … [IN DATABASE …] SET ${fullName} = …, read when a session starts.`,
      });
    },
  };
}

/** A statement that runs upstream as `sql` makes it; the session then reads its settings back. */
function forwarded(sql: (ctx: ExecContext) => string, change: { name: string; local: boolean }): LocalPlan {
  return {
    columns: null,
    paramTypes: [],
    compose: {
      rewrite: async (ctx) => {
        const text = sql(ctx);
        ctx.touchSettings(change);
        return { sql: text, upstreamParams: [] };
      },
      shape: () => ({ sql: `${change.local ? 'SET LOCAL' : 'SET'} ${PREFIX}${change.name} TO DEFAULT`, upstreamParams: [], paramTypes: [] }),
    },
    execute: () => Promise.reject(new Error('a forwarded statement runs upstream')),
  };
}

function checkValue(fullName: string, text: string, config: Config): string {
  try {
    return checkPolicy(fullName.slice(PREFIX.length), text, config);
  } catch (err) {
    const detail = err instanceof VectorgateError ? err.detail : String(err);
    throw new VectorgateError(SqlState.InvalidParameterValue, `invalid value for parameter "${fullName}": "${text}"`, { detail, cause: err });
  }
}

/** SHOW vectorgate.x: one text column named after the setting. */
export function planShow(stmt: Node): LocalPlan {
  const fullName = String(stmt.name);
  if (isQuotaSetting(fullName)) {
    // The limit this session enforces (its role settings as read at its first vector statement, or the server default).
    return {
      columns: [{ name: fullName, type: TEXT }],
      paramTypes: [],
      execute: async (ctx) => ({ rows: [[String(ctx.tenant.limit(fullName.slice(PREFIX.length)))]], commandTag: 'SHOW' }),
    };
  }
  const def = definition(fullName);
  return {
    columns: [{ name: fullName, type: TEXT }],
    paramTypes: [],
    execute: async (ctx) => ({ rows: [[resolvePolicy(def.name, { ...ctx, config: configOf(ctx) }).value]], commandTag: 'SHOW' }),
  };
}

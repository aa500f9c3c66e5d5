// SET / SET LOCAL / SHOW / RESET of vectorgate.* settings. The proxy validates them (42704 unknown name,
// 22023 bad value, PostgreSQL's own SQLSTATEs for its settings) and forwards the statement upstream, so
// PostgreSQL itself tracks them with its full rules — SET undone by ROLLBACK, SET LOCAL ending with the
// transaction, savepoints, RESET ALL — and `current_setting('vectorgate.x', true)` agrees. Before a
// local statement runs, the wire reads the effective values back into ExecContext.settings
// (src/wire/settings-sync.ts). https://www.postgresql.org/docs/current/sql-set.html
import { DEFAULTS, type Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { checkPolicy } from '../router/policies.ts';
import { constText, type Node } from './args.ts';
import type { ExecContext, LocalPlan } from './local-plan.ts';
import { TEXT } from './pg-types.ts';

const PREFIX = 'vectorgate.';

interface SettingDef {
  /** The canonical text of a valid value; throws 22023 otherwise. */
  check(value: string, config: Config): string;
  /** What SHOW says when the session has not set it. */
  fallback(config: Config): string;
}

const policy = (name: string, fallback: (config: Config) => string): [string, SettingDef] =>
  [name, { check: (value, config) => checkPolicy(name, value, config), fallback }];

const SETTINGS: ReadonlyMap<string, SettingDef> = new Map([
  policy('ef_search', (config) => String(config.defaultEfSearch)),
  policy('read_consistency', () => 'eventual'),
  policy('rerank', () => 'off'),
  policy('max_k', (config) => String(config.maxK)),
  policy('statement_timeout', () => '0'),
]);

/** Every setting's name without the prefix, in a stable order. */
export const SETTING_NAMES: readonly string[] = [...SETTINGS.keys()];

export function settingDefault(key: string, config: Config): string {
  return SETTINGS.get(key)!.fallback(config);
}

/** True for a SET/SHOW/RESET naming a vectorgate.* setting (names are lower-cased by the parser). */
export function isOurSetting(name: unknown): name is string {
  return typeof name === 'string' && name.startsWith(PREFIX);
}

function definition(fullName: string): SettingDef {
  const def = SETTINGS.get(fullName.slice(PREFIX.length));
  if (def === undefined) throw new VectorgateError(SqlState.UndefinedObject, `unrecognized configuration parameter "${fullName}"`);
  return def;
}

function configOf(ctx: ExecContext): Config {
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
  definition(fullName);
  const local = stmt.is_local === true ? 'LOCAL ' : '';
  const kind = String(stmt.kind);
  let sql: string;
  if (kind === 'VAR_SET_VALUE') {
    const text = valueText(stmt, fullName);
    const canonical = checkValue(fullName, text, DEFAULTS);
    sql = `SET ${local}${fullName} = '${canonical.replace(/'/g, "''")}'`;
  } else if (kind === 'VAR_SET_DEFAULT') {
    sql = `SET ${local}${fullName} TO DEFAULT`;
  } else if (kind === 'VAR_RESET') {
    sql = `RESET ${fullName}`;
  } else {
    throw new VectorgateError(SqlState.FeatureNotSupported, `this form of SET is not supported for ${fullName}`);
  }
  return forwarded(sql);
}

/** A statement that runs upstream as written here; the session then reads its settings back. */
function forwarded(sql: string): LocalPlan {
  return {
    columns: null,
    paramTypes: [],
    compose: {
      rewrite: async (ctx) => {
        ctx.touchSettings();
        return { sql, upstreamParams: [] };
      },
      shape: () => ({ sql, upstreamParams: [], paramTypes: [] }),
    },
    execute: () => Promise.reject(new Error('a forwarded statement runs upstream')),
  };
}

function checkValue(fullName: string, text: string, config: Config): string {
  try {
    return definition(fullName).check(text, config);
  } catch (err) {
    const reason = err instanceof VectorgateError ? err.message.replace(/^invalid value for policy [a-z_]+: "[^"]*" /, '') : String(err);
    throw new VectorgateError(SqlState.InvalidParameterValue, `invalid value for parameter "${fullName}": "${text}"`, { detail: reason });
  }
}

/** SHOW vectorgate.x: one text column named after the setting. */
export function planShow(stmt: Node): LocalPlan {
  const fullName = String(stmt.name);
  const def = definition(fullName);
  const key = fullName.slice(PREFIX.length);
  return {
    columns: [{ name: fullName, type: TEXT }],
    paramTypes: [],
    execute: async (ctx) => ({ rows: [[ctx.settings.get(key) ?? def.fallback(configOf(ctx))]], commandTag: 'SHOW' }),
  };
}

/** The session's value of a setting (without the prefix), if it was SET. */
export function sessionSetting(settings: ReadonlyMap<string, string>, key: string): string | undefined {
  return settings.get(key);
}

export function sessionEfSearch(settings: ReadonlyMap<string, string>): number | undefined {
  const value = settings.get('ef_search');
  return value === undefined ? undefined : Number(value);
}

// SET / SHOW / RESET of vectorgate.* settings, kept per session in ExecContext.settings (by name without
// the prefix). Messages and SQLSTATEs are PostgreSQL's for its own settings: 42704 for an unknown name,
// 22023 for a bad value. https://www.postgresql.org/docs/current/sql-set.html
// SET LOCAL is refused (0A000) until settings follow transactions; SET inside a transaction that rolls
// back is not undone yet either (both are issue 4's).
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

const SETTINGS: ReadonlyMap<string, SettingDef> = new Map([
  ['ef_search', {
    check: (value: string, config: Config) => checkPolicy('ef_search', value, config),
    fallback: (config: Config) => String(config.defaultEfSearch),
  }],
]);

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

/** Plans a VariableSetStmt (SET, SET ... TO DEFAULT, RESET) of one of our settings. */
export function planSet(stmt: Node): LocalPlan {
  const fullName = String(stmt.name);
  const key = fullName.slice(PREFIX.length);
  definition(fullName);
  if (stmt.is_local === true) {
    throw new VectorgateError(SqlState.FeatureNotSupported, `SET LOCAL ${fullName} is not supported yet`, {
      hint: `Use SET ${fullName} (for the session) or the ${key} => argument of the call.`,
    });
  }
  const kind = String(stmt.kind);
  if (kind === 'VAR_SET_VALUE') {
    const text = valueText(stmt, fullName);
    return noRows('SET', (ctx) => {
      ctx.settings.set(key, checkValue(fullName, text, configOf(ctx)));
    });
  }
  if (kind === 'VAR_SET_DEFAULT' || kind === 'VAR_RESET') {
    return noRows(kind === 'VAR_RESET' ? 'RESET' : 'SET', (ctx) => { ctx.settings.delete(key); });
  }
  throw new VectorgateError(SqlState.FeatureNotSupported, `this form of SET is not supported for ${fullName}`);
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

function noRows(tag: string, apply: (ctx: ExecContext) => void): LocalPlan {
  return {
    columns: null,
    paramTypes: [],
    execute: async (ctx) => {
      apply(ctx);
      return { rows: [], commandTag: tag };
    },
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

// Per-collection policies: the names vectorgate knows and the values each accepts. Stored as text in
// the catalog; anything else is 22023.
import type { Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';

type Check = (value: string, config: Config) => string;

const oneOf = (...allowed: string[]): Check => (value) => {
  const v = value.trim().toLowerCase();
  if (!allowed.includes(v)) throw new Error(`must be one of ${allowed.join(', ')}`);
  return v;
};

const POLICIES: Record<string, Check> = {
  ef_search: (value, config) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > config.maxEf) throw new Error(`must be an integer from 1 to ${config.maxEf}`);
    return String(n);
  },
  read_consistency: oneOf('eventual', 'session', 'bounded', 'linearizable'),
  max_k: (value, config) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > config.maxK) throw new Error(`must be an integer from 1 to ${config.maxK}`);
    return String(n);
  },
  statement_timeout: (value) => {
    const ms = Number(value);
    if (!Number.isInteger(ms) || ms < 0) throw new Error('must be a whole number of milliseconds (0 = none)');
    return String(ms);
  },
  rerank: (value) => (['on', 'true', '1', 'yes'].includes(value.trim().toLowerCase()) ? 'on'
    : ['off', 'false', '0', 'no'].includes(value.trim().toLowerCase()) ? 'off'
      : (() => { throw new Error('must be on or off'); })()),
};

export const POLICY_NAMES = Object.keys(POLICIES);

/** The canonical text of a valid policy value. */
export function checkPolicy(name: string, value: unknown, config: Config): string {
  const check = POLICIES[name];
  if (check === undefined) {
    throw new VectorgateError(SqlState.InvalidParameterValue, `unknown policy "${name}"`, { hint: `known policies: ${POLICY_NAMES.join(', ')}` });
  }
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new VectorgateError(SqlState.InvalidParameterValue, `policy ${name}: value must be text`);
  }
  try {
    return check(String(value), config);
  } catch (err) {
    throw new VectorgateError(SqlState.InvalidParameterValue, `invalid value for policy ${name}: "${String(value)}" ${(err as Error).message}`);
  }
}

// vectorgate_version(): the one local function of the proxy milestone; it proves the local path.
import { readFileSync } from 'node:fs';
import { TEXT } from './pg-types.ts';
import type { LocalPlan } from './local-plan.ts';

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export const VECTORGATE_VERSION: string = packageJson.version;

export function versionPlan(columnName: string): LocalPlan {
  return {
    columns: [{ name: columnName, type: TEXT }],
    paramTypes: [],
    execute: async () => ({ rows: [[VECTORGATE_VERSION]], commandTag: 'SELECT 1' }),
  };
}

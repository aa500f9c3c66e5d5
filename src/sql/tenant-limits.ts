// The names of the per-role quotas (role settings `vectorgate.max_…`) and the server defaults that
// apply when a role has none (src/config.ts). src/sql/tenant.ts enforces them; src/sql/settings.ts
// refuses SET of them, as PostgreSQL refuses SET of a superuser-only setting.
import type { Config } from '../config.ts';

export const LIMITS = [
  { name: 'max_searches_per_second', configKey: 'quotaMaxSearchesPerSecond' },
  { name: 'max_write_rows_per_second', configKey: 'quotaMaxWriteRowsPerSecond' },
  { name: 'max_concurrent_statements', configKey: 'quotaMaxConcurrentStatements' },
  { name: 'max_collections', configKey: 'quotaMaxCollections' },
  { name: 'max_vectors_per_collection', configKey: 'quotaMaxVectorsPerCollection' },
  { name: 'max_vectors', configKey: 'quotaMaxVectors' },
  { name: 'max_bytes', configKey: 'quotaMaxBytes' },
] as const satisfies readonly { name: string; configKey: keyof Config }[];

export type LimitName = (typeof LIMITS)[number]['name'];

/** A session's limits by name; 0 = none. */
export type Limits = Record<LimitName, number>;

const PREFIX = 'vectorgate.';
const NAMES: ReadonlySet<string> = new Set(LIMITS.map((l) => l.name));

/** `vectorgate.max_searches_per_second` and the others (names as the parser gives them, lower case). */
export function isQuotaSetting(fullName: string): boolean {
  return fullName.startsWith(PREFIX) && NAMES.has(fullName.slice(PREFIX.length));
}

/** One `name=value` entry of pg_db_role_setting.setconfig, when it is one of ours. */
export function limitSetting(entry: string): { name: LimitName; value: string } | null {
  const at = entry.indexOf('=');
  if (at < 0) return null;
  const fullName = entry.slice(0, at).toLowerCase();
  if (!isQuotaSetting(fullName)) return null;
  return { name: fullName.slice(PREFIX.length) as LimitName, value: entry.slice(at + 1) };
}

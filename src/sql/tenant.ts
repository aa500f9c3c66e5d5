// The quotas of one session's tenant: its login role (session_user), per proxy. Limits are role
// settings, set the PostgreSQL way (`ALTER ROLE app [IN DATABASE db] SET vectorgate.max_… = n`,
// `ALTER DATABASE db SET …`), which only a superuser may set for placeholder names, so a tenant cannot
// raise its own. They are read once, at the session's first vector statement, from
// pg_db_role_setting (readable by every role) — not from current_setting(), which the session's own
// SET or set_config() could change. https://www.postgresql.org/docs/current/catalog-pg-db-role-setting.html
//
// Rate limits (searches, write rows per second) wait up to quotaMaxWaitMs for tokens, then refuse —
// and a refusal, too, comes only after quotaMaxWaitMs, so a client looping over its quota sends at
// most one statement per connection per quotaMaxWaitMs instead of spinning on cheap refusals (which
// cost the proxy and PostgreSQL about what a search does: bench/tenants.ts measured it); caps refuse at once. Every refusal is 53400 naming the limit and its value. Caps are checked
// against what the collections hold before the write: an upsert counts as new rows (an overwrite
// too), and writes running at once may each pass the check, so a cap can be overshot by the
// batches in flight (at most max_concurrent_statements of them).
import type { Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import type { Collections } from '../router/collections.ts';
import { REAL_CLOCK, type QuotaStore, type SlotRelease } from '../router/quotas.ts';
import type { TenantMetrics } from '../metrics.ts';
import type { Tenant, TenantStatement } from './access-types.ts';
import { LIMITS, limitSetting, type LimitName, type Limits } from './tenant-limits.ts';

export { isQuotaSetting } from './tenant-limits.ts';

/**
 * One row per vectorgate.max_* entry that applies to session_user in current_database(), with its
 * precedence: role in database (3) > role (2) > database (1) > ALTER ROLE ALL (0), as PostgreSQL
 * applies them at login. The LEFT JOIN keeps one row (session_user, nulls) when none applies.
 * Everything is schema-qualified, operators too, so the session's search_path cannot change what it reads.
 */
export const LIMITS_SQL = `SELECT SESSION_USER, c.rank, c.cfg FROM (SELECT 1) AS one LEFT JOIN (
  SELECT (CASE WHEN s.setrole OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 0 ELSE 2 END)
       OPERATOR(pg_catalog.+) (CASE WHEN s.setdatabase OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 0 ELSE 1 END) AS rank, cfg
  FROM pg_catalog.pg_db_role_setting AS s, pg_catalog.unnest(s.setconfig) AS cfg
  WHERE (s.setrole OPERATOR(pg_catalog.=) 0::pg_catalog.oid
         OR s.setrole OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname OPERATOR(pg_catalog.=) SESSION_USER))
    AND (s.setdatabase OPERATOR(pg_catalog.=) 0::pg_catalog.oid
         OR s.setdatabase OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()))
    AND pg_catalog.starts_with(cfg, 'vectorgate.max_')
) AS c ON true`;

export interface TenantDeps {
  store: QuotaStore;
  config: Config;
  collections: Collections | null;
  metrics: TenantMetrics;
}

type StatementKind = 'search' | 'write' | 'create' | 'other';

export class SessionTenant implements Tenant {
  private role = '';
  private limits: Limits | null = null;
  /** What the running statement did first, for the per-role statement counter. */
  private kind: StatementKind = 'other';

  constructor(private readonly deps: TenantDeps) {}

  async enterStatement(statement: TenantStatement): Promise<() => void> {
    const limits = this.limits ?? (await this.load(statement));
    const startedMs = performance.now();
    let slot: SlotRelease | null = null;
    if (limits.max_concurrent_statements > 0) {
      slot = await this.deps.store.acquire(this.role, limits.max_concurrent_statements);
      if (slot === null) throw this.exceeded('max_concurrent_statements', 'Wait for the role\'s other vector statements to end.');
    }
    this.kind = 'other';
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      slot?.();
      this.deps.metrics.statement(this.role, this.kind, (performance.now() - startedMs) / 1000);
    };
  }

  async takeSearches(count: number, signal: AbortSignal): Promise<void> {
    this.noteKind('search');
    await this.takeTokens('max_searches_per_second', 'searches', count, signal);
  }

  async admitWrite(write: { database: string; collection: string; rows: number; bytes: number }, signal: AbortSignal): Promise<void> {
    this.noteKind('write');
    await this.checkWriteCaps(write);
    await this.takeTokens('max_write_rows_per_second', 'write_rows', write.rows, signal);
  }

  async admitDelete(rows: number, signal: AbortSignal): Promise<void> {
    this.noteKind('write');
    await this.takeTokens('max_write_rows_per_second', 'write_rows', rows, signal);
  }

  async admitCreate(owner: string): Promise<void> {
    this.noteKind('create');
    const max = this.loaded().max_collections;
    if (max === 0 || this.deps.collections === null) return;
    const owned = (await this.deps.collections.usageOfOwner(owner)).collections;
    if (owned + 1 > max) {
      throw this.exceeded('max_collections', 'Drop a collection first.', `Role "${owner}" owns ${owned} collections.`);
    }
  }

  limit(name: string): number {
    return this.loaded()[name as LimitName] ?? 0;
  }

  private noteKind(kind: StatementKind): void {
    if (this.kind === 'other') this.kind = kind;
  }

  /** The session's limits; every vector statement loads them first (Dispatcher.run), so a gap here is a bug: refuse. */
  private loaded(): Limits {
    if (this.limits === null) throw new VectorgateError(SqlState.InternalError, 'the session\'s quotas were not loaded before a vector statement');
    return this.limits;
  }

  private async load(statement: TenantStatement): Promise<Limits> {
    const rows = await statement.queryUpstream(LIMITS_SQL);
    const role = rows[0]?.[0] ?? '';
    const chosen = new Map<LimitName, { rank: number; value: string }>();
    for (const [, rank, cfg] of rows) {
      if (rank === null || cfg === null || rank === undefined || cfg === undefined) continue;
      const setting = limitSetting(cfg);
      if (setting === null) continue;
      const current = chosen.get(setting.name);
      if (current === undefined || Number(rank) > current.rank) chosen.set(setting.name, { rank: Number(rank), value: setting.value });
    }
    const limits = {} as Limits;
    for (const limit of LIMITS) {
      const set = chosen.get(limit.name);
      limits[limit.name] = set === undefined ? this.deps.config[limit.configKey] : parseLimit(limit.name, set.value);
    }
    this.role = role;
    this.limits = limits;
    return limits;
  }

  private async takeTokens(name: LimitName, bucket: string, count: number, signal: AbortSignal): Promise<void> {
    const rate = this.loaded()[name];
    if (rate === 0 || count <= 0) return;
    const maxWaitMs = this.deps.config.quotaMaxWaitMs;
    const taken = await this.deps.store.take({ role: this.role, bucket, count, ratePerSecond: rate, maxWaitMs, signal });
    if (taken) return;
    await REAL_CLOCK.sleep(maxWaitMs, signal);
    throw this.exceeded(name, `Retry later: this proxy waited ${maxWaitMs} ms for the rate to allow it.`);
  }

  private async checkWriteCaps(write: { database: string; collection: string; rows: number; bytes: number }): Promise<void> {
    const limits = this.loaded();
    const collections = this.deps.collections;
    if (collections === null) return;
    const view = collections.in(write.database);
    if (limits.max_vectors_per_collection > 0) {
      const held = (await view.usage(write.collection)).vectors;
      if (held + write.rows > limits.max_vectors_per_collection) {
        throw this.exceeded('max_vectors_per_collection', 'Delete rows first.', `Collection "${write.collection}" holds ${held} vectors; this write adds ${write.rows}.`);
      }
    }
    if (limits.max_vectors === 0 && limits.max_bytes === 0) return;
    const owner = view.spec(write.collection)?.owner;
    if (owner === undefined) return; // no such collection: the write itself reports 42P01
    const usage = await collections.usageOfOwner(owner);
    if (limits.max_vectors > 0 && usage.vectors + write.rows > limits.max_vectors) {
      throw this.exceeded('max_vectors', 'Delete rows or drop a collection first.', `The collections of role "${owner}" hold ${usage.vectors} vectors; this write adds ${write.rows}.`);
    }
    if (limits.max_bytes > 0 && usage.bytes + write.bytes > limits.max_bytes) {
      throw this.exceeded('max_bytes', 'Delete rows or drop a collection first.', `The collections of role "${owner}" hold ${usage.bytes} bytes; this write adds ${write.bytes}.`);
    }
  }

  private exceeded(name: LimitName, hint: string, detail?: string): VectorgateError {
    this.deps.metrics.rejection(this.role, name);
    const value = this.loaded()[name];
    return new VectorgateError(SqlState.ConfigurationLimitExceeded, `role "${this.role}" exceeded vectorgate.${name} = ${value}`, {
      ...(detail === undefined ? {} : { detail }),
      hint: `${hint} The limit is a role setting: ALTER ROLE "${this.role}" SET vectorgate.${name} = … (superuser), read when a session starts.`,
    });
  }
}

/** A role setting's value: a non-negative integer (0 = no limit); anything else is refused, not ignored. */
function parseLimit(name: LimitName, text: string): number {
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new VectorgateError(SqlState.InvalidParameterValue, `invalid value for parameter "vectorgate.${name}": "${text}"`, {
      hint: 'A superuser sets it to a non-negative integer (0 = no limit) with ALTER ROLE … SET or ALTER DATABASE … SET.',
    });
  }
  return value;
}

/** Bytes a write adds to its collection, counted as the usage is: dims × 4 per vector, plus the payload's JSON text. */
export function writeBytes(rows: readonly { payload?: unknown }[], dims: number): number {
  let bytes = rows.length * dims * 4;
  for (const row of rows) {
    if (row.payload === undefined || row.payload === null) continue;
    bytes += Buffer.byteLength(typeof row.payload === 'string' ? row.payload : JSON.stringify(row.payload));
  }
  return bytes;
}

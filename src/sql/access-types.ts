// Who is asking, and what they may do: the interfaces local plans see through ExecContext. The
// session's principal is what PostgreSQL authenticated (the startup packet's user and database once
// the upstream accepted them) and the role as it changes (SET ROLE, SET SESSION AUTHORIZATION); the
// proxy never trusts a claim PostgreSQL did not verify: privileges are asked of PostgreSQL itself, in
// the client's own session (src/sql/access.ts). Quotas are per tenant (src/sql/tenant.ts).

/** A privilege on a collection, as on the relation vectorgate.<name> that represents it. */
export type Privilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE' | 'OWNER';

export interface Principal {
  /** session_user: the role that logged in (or SET SESSION AUTHORIZATION made). */
  sessionUser: string;
  /** current_user: the role privileges are checked for (SET ROLE changes it). */
  currentUser: string;
  /** The database the session is connected to; collections belong to one database. */
  database: string;
  superuser: boolean;
}

export interface Access {
  /** The database of this session (the startup packet's, which PostgreSQL accepted). */
  readonly database: string;
  /** The session's principal now (cached; re-read after anything that may change the role). */
  principal(): Promise<Principal>;
  /** Resolves when the current role holds every privilege on the collection; else 42501. */
  require(collection: string, privileges: readonly Privilege[]): Promise<void>;
  /** The collections of this database the current role may see (any privilege, as information_schema.tables). */
  visible(names: readonly string[]): Promise<ReadonlySet<string>>;
  /** vector_create_collection may go on: CREATE on schema vectorgate (42501 otherwise). */
  requireCreate(): Promise<void>;
  /** Makes the relation vectorgate.<name>, owned by the current role (25001 inside a transaction block or pipeline). */
  createRelation(collection: string): Promise<void>;
  /** Drops the relation vectorgate.<name> if it exists (25001 inside a transaction block or pipeline). */
  dropRelation(collection: string): Promise<void>;
}

/** What a tenant needs of the statement that starts: a way to read its limits in the client's session. */
export interface TenantStatement {
  queryUpstream(sql: string): Promise<(string | null)[][]>;
}

/** The quotas of the session's tenant (its login role); every method throws 53400 past a limit. */
export interface Tenant {
  /**
   * One vector statement starts (the first loads the role's limits); the returned function ends it.
   * Holds one of the role's concurrent statements on this proxy while it runs.
   */
  enterStatement(statement: TenantStatement): Promise<() => void>;
  /** Takes `count` searches from the role's searches-per-second bucket (may wait briefly, bounded). */
  takeSearches(count: number, signal: AbortSignal): Promise<void>;
  /**
   * Admits a write of `rows` rows into a collection: the caps on vectors per collection and vectors
   * and bytes per role, then the rows-per-second bucket.
   */
  admitWrite(write: { database: string; collection: string; rows: number; bytes: number }, signal: AbortSignal): Promise<void>;
  /** Admits deleting `rows` ids: the rows-per-second bucket only (a delete frees what caps count). */
  admitDelete(rows: number, signal: AbortSignal): Promise<void>;
  /** Admits a new collection owned by `owner`: the cap on collections per role. */
  admitCreate(owner: string): Promise<void>;
  /** The session's value of a limit (`max_searches_per_second`, …; 0 = none), once a statement has entered. */
  limit(name: string): number;
}

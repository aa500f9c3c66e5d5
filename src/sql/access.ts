// What a session may do with collections, as PostgreSQL says (src/sql/access-query.ts), cached so
// that a search costs no round trip. An answer is trusted for privilegeCacheMs at most (the bound on
// a GRANT/REVOKE made through another proxy or a direct connection) and never past a change of the
// session's epoch: the wire bumps it when the role may have changed (SET ROLE, SET SESSION
// AUTHORIZATION, RESET, DISCARD, ROLLBACK, is_superuser reported) and when a GRANT/REVOKE/ALTER/DROP
// passed through this proxy (every session's answers then go at once).
import { SqlState, VectorgateError } from '../errors.ts';
import type { Access, Principal, Privilege } from './access-types.ts';
import {
  CREATE_SCHEMA, PRINCIPAL_QUERY, SCHEMA, createRelation, dropRelation, parsePrincipal, parsePrivileges, privilegesQuery,
} from './access-query.ts';

/** What SessionAccess needs of its session. */
export interface AccessHost {
  readonly database: string;
  /** Runs a statement upstream in the client's session (the upstream is idle: a local statement runs). */
  query(sql: string): Promise<(string | null)[][]>;
  /** Changes whenever the role or privileges may have changed. */
  epoch(): number;
  /** The owner its catalog entry names; undefined: this database has no such collection. */
  catalogOwner(collection: string): string | undefined;
  /** Why a statement that changes PostgreSQL's catalog cannot run now ('transaction block', 'pipeline'), or null. */
  ddlRefusal(): 'transaction block' | 'pipeline' | null;
  readonly config: { privilegeCacheMs: number; maxCollections: number };
  /** false: every role may do everything (ProxyOptions.uncheckedAccess, for measuring the checks). */
  readonly checked: boolean;
}

interface Cached<T> { value: T; epoch: number; atMs: number }

export class SessionAccess implements Access {
  #principal: Cached<Principal> | null = null;
  readonly #privileges = new Map<string, Cached<ReadonlySet<Privilege>>>();

  constructor(private readonly host: AccessHost) {}

  get database(): string {
    return this.host.database;
  }

  async principal(): Promise<Principal> {
    if (this.#principal !== null && this.#fresh(this.#principal)) return this.#principal.value;
    return (await this.#askPrincipal()).principal;
  }

  async require(collection: string, privileges: readonly Privilege[]): Promise<void> {
    const owner = this.host.catalogOwner(collection);
    if (owner === undefined) throw new VectorgateError(SqlState.UndefinedTable, `collection "${collection}" does not exist`);
    if (!this.host.checked) return;
    const granted = await this.#granted([{ name: collection, owner }]);
    const held = granted.get(collection)!;
    const missing = privileges.find((p) => !held.has(p));
    if (missing === undefined) return;
    throw new VectorgateError(SqlState.InsufficientPrivilege, missing === 'OWNER'
      ? `must be owner of collection ${collection}` : `permission denied for collection ${collection}`);
  }

  async visible(names: readonly string[]): Promise<ReadonlySet<string>> {
    const known = names.flatMap((name) => {
      const owner = this.host.catalogOwner(name);
      return owner === undefined ? [] : [{ name, owner }];
    });
    if (!this.host.checked) return new Set(known.map((c) => c.name));
    const granted = await this.#granted(known);
    return new Set(known.filter((c) => granted.get(c.name)!.size > 0).map((c) => c.name));
  }

  async requireCreate(): Promise<void> {
    const answer = await this.#askPrincipal();
    if (!answer.schemaExists) {
      if (!answer.principal.superuser) {
        throw new VectorgateError(SqlState.InvalidSchemaName, `schema "${SCHEMA}" does not exist`, {
          hint: `A superuser creates it once per database: CREATE SCHEMA ${SCHEMA} AUTHORIZATION pg_database_owner; ` +
            `GRANT USAGE ON SCHEMA ${SCHEMA} TO PUBLIC; (sql/vectorgate.sql does), or creates the first collection.`,
        });
      }
      this.#refuseDdlNow('vector_create_collection');
      for (const sql of CREATE_SCHEMA) await this.host.query(sql);
      return;
    }
    if (this.host.checked && !answer.mayCreate) throw new VectorgateError(SqlState.InsufficientPrivilege, `permission denied for schema ${SCHEMA}`);
  }

  /** Makes vectorgate.<name>, owned by the current role; committed before the collection's files are made. */
  async createRelation(collection: string): Promise<void> {
    this.#refuseDdlNow('vector_create_collection');
    const [create, comment] = createRelation(collection);
    try {
      await this.host.query(create!);
    } catch (err) {
      if (!(err instanceof VectorgateError) || err.code !== SqlState.DuplicateTable) throw err;
      throw new VectorgateError(SqlState.DuplicateTable, `relation "${SCHEMA}.${collection}" already exists, and no collection "${collection}" does`, {
        hint: `It is left from a collection whose drop did not finish, or someone made it by hand: DROP TABLE ${SCHEMA}."${collection}" and try again.`,
      });
    }
    await this.host.query(comment!);
    this.#privileges.delete(collection);
  }

  /** Drops vectorgate.<name> (PostgreSQL checks ownership again); a missing relation is fine. */
  async dropRelation(collection: string): Promise<void> {
    this.#refuseDdlNow('vector_drop_collection');
    await this.host.query(dropRelation(collection));
    this.#privileges.delete(collection);
  }

  /** Statements that change PostgreSQL's catalog commit at once, so not inside the client's transaction. */
  #refuseDdlNow(fn: string): void {
    const refusal = this.host.ddlRefusal();
    if (refusal === null) return;
    throw new VectorgateError(SqlState.ActiveSqlTransaction, refusal === 'pipeline'
      ? `${fn} cannot be executed within a pipeline` : `${fn} cannot run inside a transaction block`, {
      hint: `${fn} creates or drops the relation ${SCHEMA}.<name> in PostgreSQL and commits at once; run it on its own, outside BEGIN … COMMIT.`,
    });
  }

  async #askPrincipal() {
    const epoch = this.host.epoch();
    const answer = parsePrincipal((await this.host.query(PRINCIPAL_QUERY))[0]);
    this.#remember(answer.principal, epoch);
    return answer;
  }

  async #granted(collections: readonly { name: string; owner: string }[]): Promise<Map<string, ReadonlySet<Privilege>>> {
    const result = new Map<string, ReadonlySet<Privilege>>();
    const missing = collections.filter((c) => {
      const cached = this.#privileges.get(c.name);
      if (cached === undefined || !this.#fresh(cached)) return true;
      result.set(c.name, cached.value);
      return false;
    });
    if (missing.length === 0) return result;
    const epoch = this.host.epoch();
    const answer = parsePrivileges(await this.host.query(privilegesQuery(missing)));
    this.#remember(answer.principal, epoch);
    const atMs = performance.now();
    for (const [name, set] of answer.granted) {
      result.set(name, set);
      this.#privileges.delete(name);
      this.#privileges.set(name, { value: set, epoch, atMs });
    }
    // Bounded: at most one entry per collection there can be, oldest answers dropped first.
    while (this.#privileges.size > this.host.config.maxCollections) this.#privileges.delete(this.#privileges.keys().next().value!);
    return result;
  }

  #remember(principal: Principal, epoch: number): void {
    // The session's database is what the startup packet named and PostgreSQL accepted; they must agree.
    if (principal.database !== this.host.database) {
      throw new VectorgateError(SqlState.InternalError, `session database "${this.host.database}" is "${principal.database}" upstream`);
    }
    this.#principal = { value: principal, epoch, atMs: performance.now() };
  }

  #fresh(cached: Cached<unknown>): boolean {
    return cached.epoch === this.host.epoch() && performance.now() - cached.atMs < this.host.config.privilegeCacheMs;
  }
}

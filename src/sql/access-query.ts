// The statements the proxy runs in a client's session to learn what that session may do, and to keep
// each collection's relation (vectorgate.<name>) in step. Privileges are PostgreSQL's: the proxy asks
// has_table_privilege / pg_has_role as the session's current role, so roles, group membership,
// PUBLIC, SET ROLE and superusers behave as they do for tables.
// https://www.postgresql.org/docs/current/functions-info.html#FUNCTIONS-INFO-ACCESS
//
// Every name is schema-qualified (pg_catalog.…, OPERATOR(pg_catalog.=), pg_catalog types): the
// session's search_path is the client's to set, and a schema of its own ahead of pg_catalog must not
// be able to answer these questions in PostgreSQL's stead.
import type { Principal, Privilege } from './access-types.ts';

export const SCHEMA = 'vectorgate';
const EQ = 'OPERATOR(pg_catalog.=)';

/** A text literal that no client setting can reinterpret (standard_conforming_strings, encodings). */
export function textLiteral(value: string): string {
  return `pg_catalog.convert_from(pg_catalog.decode('${Buffer.from(value, 'utf8').toString('hex')}', 'hex'), 'UTF8')`;
}

/** The relation of a collection; names are plain identifiers (router/validate.ts), quoted as given. */
export function relationName(collection: string): string {
  if (!/^[A-Za-z0-9_]+$/.test(collection)) throw new Error(`not a collection name: ${collection}`);
  return `${SCHEMA}."${collection}"`;
}

const PRINCIPAL_COLUMNS = `session_user, current_user, pg_catalog.current_database(),
  COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname ${EQ} current_user), false)`;

/** session_user, current_user, database, superuser; then whether schema vectorgate exists and allows CREATE. */
export const PRINCIPAL_QUERY = `SELECT ${PRINCIPAL_COLUMNS},
  n.oid IS NOT NULL, COALESCE(pg_catalog.has_schema_privilege(n.oid, 'CREATE'), false)
FROM (SELECT 1) AS one LEFT JOIN pg_catalog.pg_namespace n ON n.nspname ${EQ} '${SCHEMA}'`;

export interface PrincipalAnswer { principal: Principal; schemaExists: boolean; mayCreate: boolean }

export function parsePrincipal(row: (string | null)[] | undefined): PrincipalAnswer {
  if (row === undefined || row.length < 6) throw new Error('the principal query returned no row');
  return { principal: principalOf(row), schemaExists: row[4] === 't', mayCreate: row[5] === 't' };
}

function principalOf(row: (string | null)[]): Principal {
  return { sessionUser: row[0] ?? '', currentUser: row[1] ?? '', database: row[2] ?? '', superuser: row[3] === 't' };
}

/**
 * One row per collection: the principal's columns, the name, then SELECT/INSERT/UPDATE/DELETE and
 * ownership (pg_has_role USAGE on the relation's owner: PostgreSQL's ownership test, true for members
 * of the owner role and for superusers). A collection whose relation is missing (migrated from a
 * catalog without relations, or the relation was dropped) belongs to the owner its catalog entry
 * names, and only the owner and superusers may use it.
 */
export function privilegesQuery(collections: readonly { name: string; owner: string }[]): string {
  const names = collections.map((c) => `'${assertPlain(c.name)}'`).join(', ');
  const owners = collections.map((c) => textLiteral(c.owner)).join(', ');
  const has = (privilege: string) => `COALESCE(pg_catalog.has_table_privilege(c.oid, '${privilege}'), false)`;
  return `SELECT ${PRINCIPAL_COLUMNS}, n.name, c.oid IS NOT NULL,
  ${has('SELECT')}, ${has('INSERT')}, ${has('UPDATE')}, ${has('DELETE')},
  CASE WHEN c.oid IS NOT NULL THEN pg_catalog.pg_has_role(c.relowner, 'USAGE')
       WHEN o.oid IS NOT NULL THEN pg_catalog.pg_has_role(o.oid, 'USAGE') ELSE false END
FROM ROWS FROM (pg_catalog.unnest(ARRAY[${names}]::pg_catalog.text[]), pg_catalog.unnest(ARRAY[${owners}]::pg_catalog.text[])) AS n(name, owner)
LEFT JOIN pg_catalog.pg_class c ON c.relname ${EQ} n.name AND c.relkind ${EQ} 'r'
  AND c.relnamespace ${EQ} (SELECT s.oid FROM pg_catalog.pg_namespace s WHERE s.nspname ${EQ} '${SCHEMA}')
LEFT JOIN pg_catalog.pg_roles o ON o.rolname ${EQ} n.owner`;
}

export interface PrivilegeAnswer { principal: Principal; granted: Map<string, ReadonlySet<Privilege>> }

const PRIVILEGE_COLUMNS: readonly Privilege[] = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];

export function parsePrivileges(rows: (string | null)[][]): PrivilegeAnswer {
  if (rows.length === 0) throw new Error('the privilege query returned no row');
  const granted = new Map<string, ReadonlySet<Privilege>>();
  const principal = principalOf(rows[0]!);
  for (const row of rows) {
    const set = new Set<Privilege>();
    const hasRelation = row[5] === 't';
    const owner = row[10] === 't' || principal.superuser;
    if (hasRelation) PRIVILEGE_COLUMNS.forEach((p, i) => { if (row[6 + i] === 't') set.add(p); });
    else if (owner) PRIVILEGE_COLUMNS.forEach((p) => set.add(p));
    if (owner) set.add('OWNER');
    granted.set(row[4] ?? '', set);
  }
  return { principal, granted };
}

function assertPlain(name: string): string {
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`not a collection name: ${name}`);
  return name;
}

/**
 * The schema collections' relations live in, owned by pg_database_owner like PostgreSQL 15's public
 * schema: the database's owner may create collections, others need GRANT CREATE ON SCHEMA vectorgate.
 */
export const CREATE_SCHEMA = [
  `CREATE SCHEMA IF NOT EXISTS ${SCHEMA} AUTHORIZATION pg_database_owner`,
  `GRANT USAGE ON SCHEMA ${SCHEMA} TO PUBLIC`,
];

/**
 * The relation that represents a collection: owned by the creating role, empty, and refusing rows
 * (CHECK (false)): rows live in vectorgate's shards and are read and written through the proxy.
 */
export function createRelation(collection: string): string[] {
  const relation = relationName(collection);
  return [
    `CREATE TABLE ${relation} (id pg_catalog.text, vector pg_catalog.float4[], payload pg_catalog.jsonb,
  CONSTRAINT rows_live_in_vectorgate_use_vector_upsert CHECK (false))`,
    `COMMENT ON TABLE ${relation} IS 'vectorgate collection: its rows live in vectorgate; search and write it through the proxy (vector_search, vector_upsert, COPY ${collection} FROM STDIN). GRANT and REVOKE on this table govern who may.'`,
  ];
}

export function dropRelation(collection: string): string {
  return `DROP TABLE IF EXISTS ${relationName(collection)}`;
}

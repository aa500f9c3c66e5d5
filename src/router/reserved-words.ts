// PostgreSQL's keywords that cannot be a plain (unquoted) table name: the RESERVED_KEYWORD and
// TYPE_FUNC_NAME_KEYWORD categories of PostgreSQL 18's src/include/parser/kwlist.h (pg_get_keywords()
// catcode 'R' and 'T'). Generated once from @pgsql/quotes 18.2.4 (which is generated from kwlist.h):
//   node -e "const q = require('@pgsql/quotes'); console.log(q.kwlist.RESERVED_KEYWORD, q.kwlist.TYPE_FUNC_NAME_KEYWORD)"
// https://www.postgresql.org/docs/current/sql-keywords-appendix.html

/** catcode 'R': reserved everywhere, e.g. select, table, from. */
const RESERVED = [
  'all', 'analyse', 'analyze', 'and', 'any', 'array', 'as', 'asc', 'asymmetric', 'both', 'case', 'cast',
  'check', 'collate', 'column', 'constraint', 'create', 'current_catalog', 'current_date', 'current_role',
  'current_time', 'current_timestamp', 'current_user', 'default', 'deferrable', 'desc', 'distinct', 'do',
  'else', 'end', 'except', 'false', 'fetch', 'for', 'foreign', 'from', 'grant', 'group', 'having', 'in',
  'initially', 'intersect', 'into', 'lateral', 'leading', 'limit', 'localtime', 'localtimestamp', 'not',
  'null', 'offset', 'on', 'only', 'or', 'order', 'placing', 'primary', 'references', 'returning', 'select',
  'session_user', 'some', 'symmetric', 'system_user', 'table', 'then', 'to', 'trailing', 'true', 'union',
  'unique', 'user', 'using', 'variadic', 'when', 'where', 'window', 'with',
];

/** catcode 'T': allowed as function or type names only, e.g. join, left, natural. */
const TYPE_FUNC_NAME = [
  'authorization', 'binary', 'collation', 'concurrently', 'cross', 'current_schema', 'freeze', 'full',
  'ilike', 'inner', 'is', 'isnull', 'join', 'left', 'like', 'natural', 'notnull', 'outer', 'overlaps',
  'right', 'similar', 'tablesample', 'verbose',
];

export const NOT_A_TABLE_NAME: ReadonlySet<string> = new Set([...RESERVED, ...TYPE_FUNC_NAME]);

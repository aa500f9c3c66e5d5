// The payload filter language, compiled once per search to a predicate:
//   {"k": v}  equality (v a string, number, boolean or null; an array payload value matches any element)
//   {"k": {"$eq"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte": v, "$in": [v...], "$exists": bool}}  (several = all)
//   {"$and": [f...]}, {"$or": [f...]}, {"$not": f}; several keys in one object = all of them.
// Keys may be dotted paths into nested objects. Comparisons only hold between values of the same type
// (number with number, string with string), as in MongoDB. Malformed filters are 22023.
import { SqlState, VectorgateError } from '../errors.ts';

export type Scalar = string | number | boolean | null;
export type Payload = Record<string, unknown>;

export type FilterNode =
  | { kind: 'eq'; path: string[]; value: Scalar }
  | { kind: 'in'; path: string[]; values: Scalar[] }
  | { kind: 'cmp'; path: string[]; op: '$gt' | '$gte' | '$lt' | '$lte'; value: number | string }
  | { kind: 'exists'; path: string[]; want: boolean }
  | { kind: 'and' | 'or'; children: FilterNode[] }
  | { kind: 'not'; child: FilterNode };

export interface CompiledFilter {
  node: FilterNode;
  test: (payload: Payload) => boolean;
}

export interface FilterLimits {
  maxFilterBytes: number;
  maxFilterDepth: number;
  maxFilterInValues: number;
}

export function compileFilter(filter: unknown, limits: FilterLimits): CompiledFilter {
  let parsed = filter;
  if (typeof filter === 'string') {
    if (Buffer.byteLength(filter) > limits.maxFilterBytes) invalid(`filter is longer than ${limits.maxFilterBytes} bytes`);
    try { parsed = JSON.parse(filter); } catch { invalid('filter is not valid JSON'); }
  }
  const node = parseFilter(parsed, limits, 0);
  return { node, test: predicate(node) };
}

function invalid(message: string): never {
  throw new VectorgateError(SqlState.InvalidParameterValue, `invalid filter: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isScalar(v: unknown): v is Scalar {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

function parseFilter(f: unknown, limits: FilterLimits, depth: number): FilterNode {
  if (depth > limits.maxFilterDepth) invalid(`nested deeper than ${limits.maxFilterDepth}`);
  if (!isObject(f)) invalid('a filter is a JSON object');
  const parts: FilterNode[] = [];
  for (const [key, value] of Object.entries(f)) {
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(value) || value.length === 0) invalid(`${key} takes a non-empty array of filters`);
      parts.push({ kind: key === '$and' ? 'and' : 'or', children: value.map((c) => parseFilter(c, limits, depth + 1)) });
    } else if (key === '$not') {
      parts.push({ kind: 'not', child: parseFilter(value, limits, depth + 1) });
    } else if (key.startsWith('$')) {
      invalid(`unknown operator ${key}`);
    } else {
      parts.push(parseField(fieldPath(key), value, limits));
    }
  }
  if (parts.length === 0) invalid('empty filter object');
  return parts.length === 1 ? parts[0]! : { kind: 'and', children: parts };
}

function fieldPath(key: string): string[] {
  const path = key.split('.');
  if (path.some((p) => p === '')) invalid(`bad field name "${key}"`);
  return path;
}

function parseField(path: string[], value: unknown, limits: FilterLimits): FilterNode {
  if (isScalar(value)) return { kind: 'eq', path, value };
  if (!isObject(value)) invalid(`field ${path.join('.')}: compare with a string, number, boolean, null or an operator object`);
  const parts: FilterNode[] = [];
  for (const [op, operand] of Object.entries(value)) parts.push(parseOperator(path, op, operand, limits));
  if (parts.length === 0) invalid(`field ${path.join('.')}: empty operator object`);
  return parts.length === 1 ? parts[0]! : { kind: 'and', children: parts };
}

function parseOperator(path: string[], op: string, operand: unknown, limits: FilterLimits): FilterNode {
  const field = path.join('.');
  switch (op) {
    case '$eq':
    case '$ne': {
      if (!isScalar(operand)) invalid(`${field}: ${op} takes a string, number, boolean or null`);
      const eq: FilterNode = { kind: 'eq', path, value: operand };
      return op === '$eq' ? eq : { kind: 'not', child: eq };
    }
    case '$gt': case '$gte': case '$lt': case '$lte':
      if (typeof operand !== 'string' && !(typeof operand === 'number' && Number.isFinite(operand))) {
        invalid(`${field}: ${op} takes a number or a string`);
      }
      return { kind: 'cmp', path, op, value: operand };
    case '$in':
      if (!Array.isArray(operand) || !operand.every(isScalar)) invalid(`${field}: $in takes an array of scalars`);
      if (operand.length > limits.maxFilterInValues) invalid(`${field}: $in has more than ${limits.maxFilterInValues} values`);
      return { kind: 'in', path, values: operand };
    case '$exists':
      if (typeof operand !== 'boolean') invalid(`${field}: $exists takes true or false`);
      return { kind: 'exists', path, want: operand };
    default:
      return invalid(`${field}: unknown operator ${op}`);
  }
}

function lookup(payload: unknown, path: string[]): unknown {
  let v = payload;
  for (const part of path) {
    if (!isObject(v)) return undefined;
    v = v[part];
  }
  return v;
}

/** True when the value, or any element of an array value, satisfies `match`. */
function anyValue(v: unknown, match: (x: unknown) => boolean): boolean {
  return Array.isArray(v) ? v.some(match) : match(v);
}

function predicate(node: FilterNode): (payload: Payload) => boolean {
  switch (node.kind) {
    case 'eq': {
      const { path, value } = node;
      return (p) => anyValue(lookup(p, path), (x) => x === value);
    }
    case 'in': {
      const { path } = node;
      const values = new Set<unknown>(node.values);
      return (p) => anyValue(lookup(p, path), (x) => values.has(x));
    }
    case 'cmp': {
      const { path, value } = node;
      const holds = comparison(node.op);
      return (p) => anyValue(lookup(p, path), (x) => typeof x === typeof value && holds(x as number | string, value));
    }
    case 'exists': {
      const { path, want } = node;
      return (p) => (lookup(p, path) !== undefined) === want;
    }
    case 'and': {
      const children = node.children.map(predicate);
      return (p) => children.every((c) => c(p));
    }
    case 'or': {
      const children = node.children.map(predicate);
      return (p) => children.some((c) => c(p));
    }
    case 'not': {
      const child = predicate(node.child);
      return (p) => !child(p);
    }
  }
}

function comparison(op: '$gt' | '$gte' | '$lt' | '$lte'): (a: number | string, b: number | string) => boolean {
  switch (op) {
    case '$gt': return (a, b) => a > b;
    case '$gte': return (a, b) => a >= b;
    case '$lt': return (a, b) => a < b;
    case '$lte': return (a, b) => a <= b;
  }
}

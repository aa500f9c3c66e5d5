// Checks that run in the router before anything is sent to a shard, so that a batch is rejected whole
// (no shard has appended any part of it) and errors carry the SQLSTATE the client should see.
import type { Config } from '../config.ts';
import { compileFilter } from '../engine/filter.ts';
import { checkEngineAvailable } from '../engine/index-factory.ts';
import { checkId, parsePayload } from '../engine/shard.ts';
import { checkOversample, checkSearchLimits } from '../engine/shard-search.ts';
import { checkNonZero, checkVectors, ENGINES, METRICS, QUANTIZATIONS, quantizationProblem, type EngineKind, type Metric, type Quantization } from '../engine/vector-index.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { NOT_A_TABLE_NAME } from './reserved-words.ts';
import type { CollectionSpec } from '../storage/catalog.ts';

export interface CreateSpec {
  name: string;
  dims: number;
  metric?: Metric;
  shards?: number;
  replicas?: number;
  quantization?: Quantization;
  m?: number;
  efConstruction?: number;
  engine?: EngineKind;
}

export interface Row { id: string; vector: Float32Array | readonly number[]; payload?: unknown }

/**
 * A collection name is what a plain SQL identifier may be, in ASCII: a letter or _, then letters,
 * digits and _ (63 bytes at most, maxCollectionNameBytes). The string given is the name exactly, as a
 * quoted identifier is: 'Docs' and 'docs' are two collections, and `COPY Docs FROM STDIN` means docs
 * (PostgreSQL folds the unquoted name) while `COPY "Docs"` means Docs — as for tables.
 * https://www.postgresql.org/docs/current/sql-syntax-lexical.html#SQL-SYNTAX-IDENTIFIERS
 */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function bad(message: string): never {
  throw new VectorgateError(SqlState.InvalidParameterValue, message);
}

function intIn(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min) bad(`${name} must be an integer of at least ${min}, got ${String(value)}`);
  if (value > max) throw new VectorgateError(SqlState.ProgramLimitExceeded, `${name} ${value} exceeds the limit of ${max}`);
  return value;
}

/** Unlike shards (54000 past maxShards), a replica count past the limit is a bad value: the cluster could never place it. */
function replicasIn(value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) bad(`replicas must be an integer from 1 to ${max} (maxReplicas), got ${String(value)}`);
  return value;
}

export function checkCollectionName(name: unknown, config: Config): string {
  if (typeof name !== 'string' || !NAME.test(name)) bad(`invalid collection name ${JSON.stringify(name)}: use letters, digits and _`);
  if (Buffer.byteLength(name) > config.maxCollectionNameBytes) bad(`collection name is longer than ${config.maxCollectionNameBytes} bytes`);
  return name;
}

/**
 * A new collection's name: also no keyword that cannot be a plain table name (`select`, `table`,
 * `join`, …: 42602), and no `pg_` prefix, which PostgreSQL keeps for its own names (42939, as for
 * CREATE SCHEMA pg_x). Checked at creation only, so a collection made before these rules stays usable.
 */
export function checkNewCollectionName(name: unknown, config: Config): string {
  const checked = checkCollectionName(name, config);
  const folded = checked.toLowerCase();
  if (NOT_A_TABLE_NAME.has(folded)) {
    throw new VectorgateError(SqlState.InvalidName, `collection name "${checked}" is a reserved word`, {
      hint: 'Choose a name that PostgreSQL accepts as a plain table name, e.g. with a prefix or suffix.',
    });
  }
  if (folded.startsWith('pg_')) {
    throw new VectorgateError(SqlState.ReservedName, `unacceptable collection name "${checked}"`, { detail: 'The prefix "pg_" is reserved for system names.' });
  }
  return checked;
}

export function checkCreateSpec(spec: CreateSpec, config: Config): CollectionSpec {
  const metric = spec.metric ?? 'l2';
  const quantization = spec.quantization ?? 'none';
  const engine = spec.engine ?? 'usearch';
  if (!METRICS.includes(metric)) bad(`unknown metric "${String(metric)}": use ${METRICS.join(', ')}`);
  if (!QUANTIZATIONS.includes(quantization)) bad(`unknown quantization "${String(quantization)}": use ${QUANTIZATIONS.join(', ')}`);
  if (!ENGINES.includes(engine)) bad(`unknown engine "${String(engine)}": use ${ENGINES.join(', ')}`);
  const problem = quantizationProblem(engine, metric, quantization);
  if (problem !== null) bad(problem);
  checkEngineAvailable(engine);
  return {
    name: checkNewCollectionName(spec.name, config),
    dims: intIn('dimensions', spec.dims, 1, config.maxDimensions),
    metric, quantization, engine,
    shards: intIn('shards', spec.shards ?? 1, 1, config.maxShards),
    replicas: replicasIn(spec.replicas ?? 1, config.maxReplicas),
    m: intIn('m', spec.m ?? config.defaultM, 2, 256),
    efConstruction: intIn('ef_construction', spec.efConstruction ?? config.defaultEfConstruction, 1, config.maxEf),
  };
}

export function toVector(vector: unknown, spec: CollectionSpec): Float32Array {
  const v = vector instanceof Float32Array ? vector
    : Array.isArray(vector) && vector.every((x) => typeof x === 'number') ? Float32Array.from(vector)
      : bad('a vector is a Float32Array or an array of numbers');
  checkVectors(v, spec.dims, 1);
  if (spec.metric === 'cosine') checkNonZero(v, spec.dims);
  return v;
}

/** Payload as the JSON text of an object, or null. */
export function toPayloadText(payload: unknown, config: Config): string | null {
  if (payload === undefined || payload === null) return null;
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  if (text.includes('\0')) throw new VectorgateError(SqlState.CharacterNotInRepertoire, 'invalid byte sequence for encoding "UTF8": 0x00');
  checkNoNulEscape(text, parsePayload(text, config.maxPayloadBytes));
  return text;
}

/**
 * NUL is refused in payloads as PostgreSQL refuses it: a raw 0x00 in text is 22021 (above), and jsonb
 * cannot hold a `\u0000` escape in any key or string (22P05), so such a payload could not be returned
 * in a composed statement's jsonb column. Only texts with the escape are walked.
 * https://www.postgresql.org/docs/current/datatype-json.html
 */
function checkNoNulEscape(text: string, value: unknown): void {
  if (text.includes('\\u0000') && holdsNul(value)) {
    throw new VectorgateError(SqlState.UntranslatableCharacter, 'unsupported Unicode escape sequence', { detail: '\\u0000 cannot be converted to text.' });
  }
}

function holdsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (Array.isArray(value)) return value.some(holdsNul);
  if (typeof value === 'object' && value !== null) return Object.entries(value).some(([key, v]) => key.includes('\0') || holdsNul(v));
  return false;
}

export function checkRows(rows: readonly Row[], spec: CollectionSpec, config: Config): { id: string; vector: Float32Array; payload: string | null }[] {
  checkBatchSize(rows.length, config);
  return rows.map((r) => {
    checkId(r.id, config.maxIdBytes);
    return { id: r.id, vector: toVector(r.vector, spec), payload: toPayloadText(r.payload, config) };
  });
}

export function checkBatchSize(count: number, config: Config): void {
  if (count > config.maxBatchRows) {
    throw new VectorgateError(SqlState.ProgramLimitExceeded, `a batch of ${count} rows exceeds the limit of ${config.maxBatchRows}`);
  }
}

/** The filter as JSON text for the shards, after checking it compiles (22023 otherwise). */
export function checkSearch(k: number, ef: number, filter: unknown, config: Config, oversample?: number): string | null {
  checkSearchLimits(k, ef, config);
  checkOversample(oversample, config);
  if (filter === undefined || filter === null) return null;
  compileFilter(filter, config);
  return typeof filter === 'string' ? filter : JSON.stringify(filter);
}

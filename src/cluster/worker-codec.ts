// Every worker-protocol Request, its Results[type] and a WireError as gRPC message bytes (the frame
// is worker-frame.ts). Vectors and distances travel as raw float blobs, bit-exact; the rest as JSON.
// Decoding checks every field, so a bad message is one 08P01 naming the field; sizes are bounded
// by FrameLimits on both sides.
import type { ShardHit, StoredRow } from '../engine/shard.ts';
import type { SearchOptions, SearchTrace } from '../engine/shard-search.ts';
import { ENGINES, METRICS, QUANTIZATIONS, type IndexSpec } from '../engine/vector-index.ts';
import { SqlState, type Severity, type SqlStateCode } from '../errors.ts';
import type { ExplainedSearch, ReplicaStats } from '../router/shard-replica.ts';
import type { ReadBound, Request, Results, UpsertRows, WireError } from '../router/worker-protocol.ts';
import { Fields } from './frame-fields.ts';
import { decodeFrame, encodeFrame, float32sOf, float64sOf, floatBytes, FrameKind, malformed, type Frame, type FrameLimits } from './worker-frame.ts';

export type RequestType = Request['type'];
export const REQUEST_TYPES: readonly RequestType[] = ['open', 'close', 'write', 'prepare', 'decide', 'retained', 'search', 'explain', 'get', 'stats', 'snapshot'];
export type Reply<T extends RequestType = RequestType> = { ok: true; value: Results[T] } | { ok: false; error: WireError };

// ---- requests

export function encodeRequest(req: Request, limits: FrameLimits): Buffer {
  const blobs: Buffer[] = [];
  let fields: Record<string, unknown> = { ...req };
  if ((req.type === 'write' || req.type === 'prepare') && req.upsert !== undefined) {
    fields = { ...fields, upsert: { ids: req.upsert.ids, payloads: req.upsert.payloads } };
    blobs.push(floatBytes(req.upsert.vectors));
  } else if (req.type === 'search' || req.type === 'explain') {
    fields = { ...fields, query: undefined };
    blobs.push(floatBytes(req.query));
  }
  return encodeFrame({ kind: FrameKind.Request, fields, blobs }, limits);
}

export function decodeRequest(data: Buffer, limits: FrameLimits): Request {
  const frame = expectKind(decodeFrame(data, limits), FrameKind.Request);
  const f = Fields.of(frame.fields, 'request');
  const type = f.oneOf('type', REQUEST_TYPES);
  const shard = f.str('shard');
  switch (type) {
    case 'open': return { type, shard, dir: f.str('dir'), spec: specOf(f.obj('spec')), committed: f.counts('committed') };
    case 'close': case 'retained': case 'stats': case 'snapshot': return { type, shard };
    case 'write': return { type, shard, ...writeOf(f, frame.blobs) };
    case 'prepare': return { type, shard, txid: f.count('txid'), ...writeOf(f, frame.blobs) };
    case 'decide': return { type, shard, txid: f.count('txid'), commit: f.bool('commit') };
    case 'search': case 'explain': return { type, shard, ...searchOf(f, frame.blobs) };
    case 'get': return { type, shard, id: f.str('id'), ...readOf(f) };
  }
}

function specOf(f: Fields): IndexSpec {
  return {
    dims: f.count('dims'), metric: f.oneOf('metric', METRICS), quantization: f.oneOf('quantization', QUANTIZATIONS),
    m: f.count('m'), efConstruction: f.count('efConstruction'), engine: f.oneOf('engine', ENGINES),
  };
}

function writeOf(f: Fields, blobs: Buffer[]): { upsert?: UpsertRows; delete?: string[] } {
  const out: { upsert?: UpsertRows; delete?: string[] } = {};
  const upsert = f.optObj('upsert');
  if (upsert !== undefined) {
    const ids = upsert.strings('ids');
    const payloads = upsert.nullableStrings('payloads');
    const vectors = float32sOf(blobs[0], 'request.upsert.vectors');
    if (payloads.length !== ids.length) throw malformed(`request.upsert has ${ids.length} ids but ${payloads.length} payloads`);
    if (ids.length === 0 ? vectors.length !== 0 : vectors.length === 0 || vectors.length % ids.length !== 0) {
      throw malformed(`request.upsert has ${vectors.length} floats for ${ids.length} ids`);
    }
    out.upsert = { ids, vectors, payloads };
  }
  if (f.has('delete')) out.delete = f.strings('delete');
  return out;
}

function searchOf(f: Fields, blobs: Buffer[]): { query: Float32Array; k: number; options: SearchOptions; read?: ReadBound } {
  const options = f.obj('options');
  const parsed: SearchOptions = {};
  if (options.has('ef')) parsed.ef = options.count('ef');
  if (options.has('filter')) parsed.filter = options.raw('filter');
  if (options.has('oversample')) parsed.oversample = options.num('oversample');
  if (options.has('rescore')) parsed.rescore = options.bool('rescore');
  return { query: float32sOf(blobs[0], 'request.query'), k: f.count('k'), options: parsed, ...readOf(f) };
}

function readOf(f: Fields): { read?: ReadBound } {
  const r = f.optObj('read');
  if (r === undefined) return {};
  const read: ReadBound = { waitMs: r.num('waitMs') };
  if (r.has('minSeq')) read.minSeq = r.count('minSeq');
  if (r.has('maxStalenessMs')) read.maxStalenessMs = r.num('maxStalenessMs');
  return { read };
}

// ---- replies

export function encodeResult<T extends RequestType>(type: T, value: Results[T], limits: FrameLimits): Buffer {
  return encodeFrame(resultFrame(type, value), limits);
}

export function encodeError(error: WireError, limits: FrameLimits): Buffer {
  const { code, message, detail, hint, severity } = error;
  return encodeFrame({ kind: FrameKind.Error, fields: { code, message, detail, hint, severity }, blobs: [] }, limits);
}

export function decodeReply<T extends RequestType>(type: T, data: Buffer, limits: FrameLimits): Reply<T> {
  const frame = decodeFrame(data, limits);
  if (frame.kind === FrameKind.Error) return { ok: false, error: errorOf(Fields.of(frame.fields, 'error')) };
  expectKind(frame, FrameKind.Result);
  return { ok: true, value: resultOf(type, frame) as Results[T] };
}

function resultFrame(type: RequestType, value: unknown): Frame {
  switch (type) {
    case 'search': return hitsFrame(value as ShardHit[], {});
    case 'explain': {
      const { hits, trace, ms, lastApplied } = value as ExplainedSearch;
      return hitsFrame(hits, { trace, ms, lastApplied });
    }
    case 'get': {
      const row = value as StoredRow | null;
      if (row === null) return { kind: FrameKind.Result, fields: { value: null }, blobs: [] };
      return { kind: FrameKind.Result, fields: { value: { id: row.id, payload: row.payload } }, blobs: [floatBytes(row.vector)] };
    }
    default: return { kind: FrameKind.Result, fields: { value }, blobs: [] };
  }
}

function hitsFrame(hits: ShardHit[], extra: Record<string, unknown>): Frame {
  const distances = Float64Array.from(hits, (h) => h.distance);
  return { kind: FrameKind.Result, fields: { ...extra, ids: hits.map((h) => h.id), payloads: hits.map((h) => h.payload) }, blobs: [floatBytes(distances)] };
}

function resultOf(type: RequestType, frame: Frame): unknown {
  const f = Fields.of(frame.fields, `${type} result`);
  switch (type) {
    case 'open': case 'close': case 'snapshot':
      if (f.raw('value') !== null) throw malformed(`${type} result.value is not null`);
      return null;
    case 'write': case 'prepare': return f.count('value');
    case 'decide': case 'retained': return f.nullableCount('value');
    case 'search': return hitsOf(f, frame.blobs);
    case 'explain': return { hits: hitsOf(f, frame.blobs), trace: traceOf(f.obj('trace')), ms: f.num('ms'), lastApplied: f.count('lastApplied') } satisfies ExplainedSearch;
    case 'get': return rowOf(f, frame.blobs);
    case 'stats': return statsOf(f.obj('value'));
  }
}

function hitsOf(f: Fields, blobs: Buffer[]): ShardHit[] {
  const ids = f.strings('ids');
  const payloads = f.nullableStrings('payloads');
  const distances = float64sOf(blobs[0], 'result distances');
  if (payloads.length !== ids.length || distances.length !== ids.length) {
    throw malformed(`result has ${ids.length} ids, ${payloads.length} payloads and ${distances.length} distances`);
  }
  return ids.map((id, i) => ({ id, distance: distances[i]!, payload: payloads[i]! }));
}

const STRATEGIES: readonly SearchTrace['strategy'][] = ['hnsw', 'exact over payload-index matches', 'exact over a scan', 'hnsw, widened', 'scan after widening'];

function traceOf(f: Fields): SearchTrace {
  const trace: SearchTrace = {
    strategy: f.oneOf('strategy', STRATEGIES), reason: f.str('reason'), rows: f.count('rows'), ef: f.count('ef'),
    candidates: f.counts('candidates'), rescored: f.count('rescored'),
  };
  if (f.has('selectivity')) trace.selectivity = f.num('selectivity');
  if (f.has('rescore')) trace.rescore = f.bool('rescore');
  if (f.has('oversample')) trace.oversample = f.num('oversample');
  return trace;
}

function rowOf(f: Fields, blobs: Buffer[]): StoredRow | null {
  if (f.raw('value') === null) return null;
  const row = f.obj('value');
  const payload = row.raw('payload') === null ? null : row.str('payload');
  return { id: row.str('id'), vector: float32sOf(blobs[0], 'get result.vector'), payload };
}

function statsOf(f: Fields): ReplicaStats {
  return {
    count: f.count('count'), unindexed: f.count('unindexed'), payloadBytes: f.count('payloadBytes'), lastApplied: f.count('lastApplied'),
    logBytes: f.count('logBytes'), snapshotSeq: f.count('snapshotSeq'), memoryBytes: f.count('memoryBytes'),
  };
}

const SEVERITIES: readonly Severity[] = ['ERROR', 'FATAL', 'PANIC', 'COMMERROR'];
const CODES = new Set<string>(Object.values(SqlState));

function errorOf(f: Fields): WireError {
  const code = f.str('code');
  if (!CODES.has(code)) throw malformed(`error.code ${JSON.stringify(code)} is not a known SQLSTATE`);
  const error: WireError = { code: code as SqlStateCode, message: f.str('message'), severity: f.oneOf('severity', SEVERITIES) };
  const detail = f.optStr('detail');
  const hint = f.optStr('hint');
  if (detail !== undefined) error.detail = detail;
  if (hint !== undefined) error.hint = hint;
  return error;
}

export function expectKind(frame: Frame, kind: FrameKind): Frame {
  if (frame.kind !== kind) throw malformed(`kind ${frame.kind} where ${kind} was expected`);
  return frame;
}

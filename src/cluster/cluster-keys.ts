// The cluster's keys in etcd that workers and the placement controller write (layout:
// docs/architecture.md, "Cluster keys"; values are JSON). Every key is under config etcdPrefix:
// - workers/<id>                      a worker's registration, under its lease;
// - replicas/<dir>/<shard>/<worker>   what a worker reports of one replica it holds, under its lease;
// - placement/<dir>/<shard>           which workers hold the shard's replicas (the controller writes it).
// Parsers never throw: a value another version wrote that does not fit is skipped (null).
import type { PlacedReplica, ReplicaState } from './placement-plan.ts';

export interface WorkerRegistration {
  id: string;
  /** host:port others dial. */
  address: string;
  zone: string;
  capacity: number;
  /** Shard keys (`<dir>/<shard>`) it holds open. */
  shards: string[];
  memoryBytes: number;
  startedAt: number;
}

export interface ReplicaReportValue {
  /** The highest seq the replica applied. */
  applied: number;
  /** The last seq its log knew committed. */
  logSeq: number;
  /** The seq its newest snapshot on the worker's disk covers (0: none). */
  snapshotSeq: number;
  /** When it last had applied everything its log knew committed (ms epoch; 0: never). */
  caughtUpAt: number;
  /** Opened (snapshot + replay) and caught up with its log at least once since. */
  serving: boolean;
}

export interface PlacementValue { replicas: PlacedReplica[] }

export const WORKERS = 'workers/';
export const REPLICAS = 'replicas/';
export const PLACEMENT = 'placement/';

export const workerKey = (prefix: string, id: string): string => `${prefix}${WORKERS}${id}`;
export const replicaKey = (prefix: string, shard: string, worker: string): string => `${prefix}${REPLICAS}${shard}/${worker}`;
export const placementKey = (prefix: string, shard: string): string => `${prefix}${PLACEMENT}${shard}`;
/** Every key of one collection's logs (all its shards). */
export const logPrefix = (prefix: string, dir: string): string => `${prefix}log/${dir}/`;

/** A replicas/ key without the prefix, `<dir>/<shard>/<worker>`, as its shard key and worker id. */
export function splitReplicaKey(key: string): { shard: string; worker: string } | null {
  const at = key.lastIndexOf('/');
  if (at <= 0 || at === key.length - 1) return null;
  return { shard: key.slice(0, at), worker: key.slice(at + 1) };
}

/** The collection directory of a shard key `<dir>/<shard>`. */
export function dirOfShard(shard: string): string {
  return shard.slice(0, shard.lastIndexOf('/'));
}

export function parseWorker(value: Buffer): WorkerRegistration | null {
  const v = parseJson(value);
  if (v === null || typeof v.id !== 'string' || typeof v.address !== 'string') return null;
  return {
    id: v.id,
    address: v.address,
    zone: typeof v.zone === 'string' ? v.zone : 'default',
    capacity: typeof v.capacity === 'number' ? v.capacity : 1,
    shards: Array.isArray(v.shards) ? v.shards.filter((s): s is string => typeof s === 'string') : [],
    memoryBytes: typeof v.memoryBytes === 'number' ? v.memoryBytes : 0,
    startedAt: typeof v.startedAt === 'number' ? v.startedAt : 0,
  };
}

export function parseReport(value: Buffer): ReplicaReportValue | null {
  const v = parseJson(value);
  if (v === null) return null;
  const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : 0);
  return { applied: num(v.applied), logSeq: num(v.logSeq), snapshotSeq: num(v.snapshotSeq), caughtUpAt: num(v.caughtUpAt), serving: v.serving === true };
}

const STATES: ReadonlySet<string> = new Set<ReplicaState>(['joining', 'serving', 'leaving']);

export function parsePlacement(value: Buffer): PlacementValue | null {
  const v = parseJson(value);
  if (v === null || !Array.isArray(v.replicas)) return null;
  const replicas: PlacedReplica[] = [];
  for (const r of v.replicas as unknown[]) {
    const entry = r as Record<string, unknown>;
    if (typeof entry?.worker === 'string' && typeof entry.state === 'string' && STATES.has(entry.state)) {
      replicas.push({ worker: entry.worker, state: entry.state as ReplicaState });
    }
  }
  return { replicas };
}

function parseJson(value: Buffer): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(value.toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : null;
  } catch {
    return null;
  }
}

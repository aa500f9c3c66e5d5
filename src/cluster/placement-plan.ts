// The placement planner: which workers hold each shard's R replicas. A pure, deterministic function
// of (workers, shards, current assignment, what the workers report, now, grace), so the controller
// that runs it (elected through etcd) stays a thin loop of read → plan → write, and smarter placement
// (load, hot shards, throttled rebalancing) can grow here without touching etcd code.
//
// Rules (docs/architecture.md, "Placement"):
// - a shard's replicas are on distinct workers; on distinct zones when at least R zones have a live
//   worker (an existing placement that breaks this is moved, add-then-remove);
// - new replicas go to the live worker with the lowest (replicas + 1) / capacity, ties broken by a
//   stable hash of (shard, worker), so equal workers share shards evenly and placement spreads;
// - a worker whose lease has been lost for at most graceMs keeps its replicas (a restart, not a
//   death); after that its replicas are dropped and re-assigned elsewhere as `joining`;
// - moves are add-then-remove: a new replica is `joining` until its worker reports it serving; only
//   when every replica of the shard's target serves are the ones it replaces marked `leaving`, and
//   dropped once their worker no longer reports them. A leaving replica whose worker still serves it
//   is taken back (serving) while the shard is short of serving replicas. No move ever leaves a
//   shard with fewer serving replicas than it had;
// - fewer eligible workers than R → as many replicas as there are, and a warning;
// - valid placements are kept (no rebalancing yet): plan(plan(x)) == plan(x). Every state change is
//   gated on something outside the plan (a report, a lease, the clock), so a plan is a fixed point.
import { fnv1a } from '../router/router.ts';

export type ReplicaState = 'joining' | 'serving' | 'leaving';

export interface PlacementWorker {
  id: string;
  zone: string;
  /** Relative size; replicas are shared in proportion. A worker with capacity ≤ 0 gets no new replicas (drain). */
  capacity: number;
  /** Its lease is held. */
  alive: boolean;
  /** When its lease was lost (ms epoch), for a worker that is not alive; absent = lost long ago. */
  leaseLostSinceMs?: number;
}

export interface PlacementShard {
  /** `<dir>/<shard>`, as in the placement key. */
  key: string;
  replicas: number;
}

export interface PlacedReplica {
  worker: string;
  state: ReplicaState;
}

/** Shard key → its replicas, ordered by worker id. */
export type Assignment = Record<string, PlacedReplica[]>;

/** What a worker publishes for a replica it holds (`replicas/<dir>/<shard>/<worker>`). */
export interface ReplicaReport {
  serving: boolean;
}

export interface PlacementInput {
  workers: readonly PlacementWorker[];
  shards: readonly PlacementShard[];
  current: Assignment;
  /** Shard key → worker id → its report; no entry = that worker holds no replica of the shard. */
  reports: Record<string, Record<string, ReplicaReport>>;
  nowMs: number;
  graceMs: number;
}

export type MoveAction = 'add' | 'serve' | 'leave' | 'drop';

export interface PlacementMove {
  shard: string;
  worker: string;
  action: MoveAction;
  reason: string;
}

export interface PlacementPlan {
  assignment: Assignment;
  /** What changed against the input, in shard then worker order. */
  moves: PlacementMove[];
  /** Shards with fewer replicas than asked for, and why. */
  warnings: string[];
}

type Liveness = 'alive' | 'grace' | 'gone';

interface Context {
  input: PlacementInput;
  workers: Map<string, PlacementWorker>;
  liveness: Map<string, Liveness>;
  /** Replicas per worker so far (any state), for proportional placement. */
  load: Map<string, number>;
  /** Zones with a live worker. */
  aliveZones: number;
  moves: PlacementMove[];
  warnings: string[];
}

export function planPlacement(input: PlacementInput): PlacementPlan {
  const context = makeContext(input);
  const assignment: Assignment = {};
  const shards = [...input.shards].sort((a, b) => compareText(a.key, b.key));
  const wanted = new Set(shards.map((shard) => shard.key));
  for (const key of Object.keys(input.current).sort(compareText)) {
    if (wanted.has(key)) continue;
    for (const replica of input.current[key]!) context.moves.push({ shard: key, worker: replica.worker, action: 'drop', reason: 'shard no longer exists' });
  }
  for (const shard of shards) assignment[shard.key] = planShard(context, shard);
  const moves = context.moves.sort((a, b) => compareText(a.shard, b.shard) || compareText(a.worker, b.worker));
  return { assignment, moves, warnings: context.warnings };
}

function makeContext(input: PlacementInput): Context {
  const workers = new Map(input.workers.map((worker) => [worker.id, worker]));
  const liveness = new Map<string, Liveness>();
  for (const worker of workers.values()) liveness.set(worker.id, livenessOf(worker, input));
  const zones = new Set(input.workers.filter((worker) => worker.alive).map((worker) => worker.zone));
  const load = new Map<string, number>();
  const wanted = new Set(input.shards.map((shard) => shard.key));
  for (const [key, replicas] of Object.entries(input.current)) {
    if (!wanted.has(key)) continue;
    for (const replica of replicas) {
      if ((liveness.get(replica.worker) ?? 'gone') !== 'gone') load.set(replica.worker, (load.get(replica.worker) ?? 0) + 1);
    }
  }
  return { input, workers, liveness, load, aliveZones: zones.size, moves: [], warnings: [] };
}

function livenessOf(worker: PlacementWorker, input: PlacementInput): Liveness {
  if (worker.alive) return 'alive';
  if (worker.leaseLostSinceMs !== undefined && input.nowMs - worker.leaseLostSinceMs <= input.graceMs) return 'grace';
  return 'gone';
}

function planShard(context: Context, shard: PlacementShard): PlacedReplica[] {
  const reports = context.input.reports[shard.key] ?? {};
  const existing = survivingReplicas(context, shard.key, reports);
  const target = chooseTarget(context, shard, existing);
  const next = new Map<string, ReplicaState>();
  for (const [worker, state] of existing) {
    if (!target.has(worker)) continue;
    next.set(worker, state === 'leaving' ? 'serving' : state);
    if (state === 'leaving') context.moves.push({ shard: shard.key, worker, action: 'serve', reason: 'leaving replica needed again' });
  }
  for (const worker of target) {
    if (next.has(worker)) continue;
    next.set(worker, 'joining');
    context.load.set(worker, (context.load.get(worker) ?? 0) + 1);
    context.moves.push({ shard: shard.key, worker, action: 'add', reason: 'new replica' });
  }
  retireReplaced(context, shard, existing, target, next, reports);
  return [...next.entries()].sort(([a], [b]) => compareText(a, b)).map(([worker, state]) => ({ worker, state }));
}

/**
 * The current replicas that stay in the picture: not on a gone worker, one per worker, a joining
 * replica its worker reports serving promoted, a leaving one its worker released dropped.
 */
function survivingReplicas(context: Context, key: string, reports: Record<string, ReplicaReport>): Map<string, ReplicaState> {
  const surviving = new Map<string, ReplicaState>();
  const replicas = [...(context.input.current[key] ?? [])].sort((a, b) => compareText(a.worker, b.worker));
  for (const replica of replicas) {
    const liveness = context.liveness.get(replica.worker) ?? 'gone';
    if (liveness === 'gone') {
      context.moves.push({ shard: key, worker: replica.worker, action: 'drop', reason: `worker lease lost for more than the grace period` });
      continue;
    }
    if (replica.state === 'leaving' && reports[replica.worker] === undefined) {
      dropReplica(context, key, replica.worker, 'leaving replica released by its worker');
      continue;
    }
    let state = replica.state;
    if (state === 'joining' && reports[replica.worker]?.serving === true) {
      state = 'serving';
      context.moves.push({ shard: key, worker: replica.worker, action: 'serve', reason: 'worker reports it serving' });
    }
    const before = surviving.get(replica.worker);
    if (before === undefined || rankOfState(state) < rankOfState(before)) surviving.set(replica.worker, state);
  }
  return surviving;
}

/**
 * The R workers the shard should end up on: valid current replicas first (at most one per zone when
 * zones are enforced), then new workers, preferring zones the shard does not use yet; a replica in a
 * duplicate zone is kept rather than leaving the shard short.
 */
function chooseTarget(context: Context, shard: PlacementShard, existing: Map<string, ReplicaState>): Set<string> {
  const wanted = Math.max(0, shard.replicas);
  const enforceZones = context.aliveZones >= wanted;
  const reports = context.input.reports[shard.key] ?? {};
  const held = [...existing]
    .filter(([worker, state]) => state !== 'leaving' || reports[worker]?.serving === true)
    .map(([worker, state]) => ({ worker, rank: state === 'joining' ? 1 : 0 }));
  held.sort((a, b) => compareHeld(context, shard.key, a, b));
  const target = new Set<string>();
  const zones = new Set<string>();
  const displaced: string[] = [];
  for (const { worker } of held) {
    const zone = context.workers.get(worker)!.zone;
    if (target.size >= wanted) break;
    if (enforceZones && zones.has(zone)) displaced.push(worker);
    else {
      target.add(worker);
      zones.add(zone);
    }
  }
  const candidates = context.input.workers
    .filter((worker) => worker.alive && worker.capacity > 0 && !existing.has(worker.id))
    .map((worker) => worker.id);
  addNewWorkers(context, shard.key, target, zones, candidates, wanted, true);
  for (const worker of displaced) if (target.size < wanted) target.add(worker);
  addNewWorkers(context, shard.key, target, zones, candidates, wanted, false);
  if (target.size < wanted) {
    context.warnings.push(`shard ${shard.key} has ${target.size} of ${wanted} replicas: not enough live workers with capacity`);
  }
  return target;
}

function addNewWorkers(context: Context, key: string, target: Set<string>, zones: Set<string>, candidates: string[], wanted: number, newZonesOnly: boolean): void {
  while (target.size < wanted) {
    const eligible = candidates.filter((worker) => !target.has(worker) && (!newZonesOnly || !zones.has(context.workers.get(worker)!.zone)));
    if (eligible.length === 0) return;
    const best = eligible.reduce((a, b) => (compareCandidates(context, key, a, b) <= 0 ? a : b));
    target.add(best);
    zones.add(context.workers.get(best)!.zone);
  }
}

/**
 * The replicas outside the target: a joining one never served, so it is dropped. The others (serving,
 * or leaving but still served by their worker) keep serving until every replica of the target
 * serves; then they are marked leaving, or dropped at once when their worker reports nothing (there
 * is nothing to wind down). This depends only on the target's states, not on the replicas it
 * changes, so planning the plan again changes nothing.
 */
function retireReplaced(context: Context, shard: PlacementShard, existing: Map<string, ReplicaState>, target: Set<string>, next: Map<string, ReplicaState>, reports: Record<string, ReplicaReport>): void {
  const targetServes = [...target].every((worker) => next.get(worker) === 'serving');
  for (const [worker, state] of existing) {
    if (target.has(worker)) continue;
    if (state === 'joining') {
      dropReplica(context, shard.key, worker, 'joining replica no longer needed');
    } else if (!targetServes && (state === 'serving' || reports[worker]?.serving === true)) {
      next.set(worker, 'serving');
      if (state === 'leaving') context.moves.push({ shard: shard.key, worker, action: 'serve', reason: 'needed until its replacement serves' });
    } else if (reports[worker] === undefined) {
      dropReplica(context, shard.key, worker, 'replaced, and its worker reports no replica');
    } else {
      next.set(worker, 'leaving');
      if (state !== 'leaving') context.moves.push({ shard: shard.key, worker, action: 'leave', reason: 'replaced by a serving replica' });
    }
  }
}

function dropReplica(context: Context, key: string, worker: string, reason: string): void {
  context.moves.push({ shard: key, worker, action: 'drop', reason });
  context.load.set(worker, (context.load.get(worker) ?? 1) - 1);
}

/**
 * Which held replica to keep first: one with data (serving, or leaving but still served: the same
 * rank, so marking a replica leaving never changes the choice) before a joining one, a live worker
 * before one in its grace period, then the stable hash.
 */
function compareHeld(context: Context, key: string, a: { worker: string; rank: number }, b: { worker: string; rank: number }): number {
  return a.rank - b.rank
    || rankOfLiveness(context.liveness.get(a.worker)!) - rankOfLiveness(context.liveness.get(b.worker)!)
    || spread(key, a.worker) - spread(key, b.worker)
    || compareText(a.worker, b.worker);
}

/** Lowest (load + 1) / capacity first (compared by cross-multiplying: exact), then the stable hash. */
function compareCandidates(context: Context, key: string, a: string, b: string): number {
  const capacityA = context.workers.get(a)!.capacity;
  const capacityB = context.workers.get(b)!.capacity;
  const loadA = (context.load.get(a) ?? 0) + 1;
  const loadB = (context.load.get(b) ?? 0) + 1;
  return loadA * capacityB - loadB * capacityA || spread(key, a) - spread(key, b) || compareText(a, b);
}

function spread(key: string, worker: string): number {
  return fnv1a(`${key}\u0000${worker}`);
}

function rankOfState(state: ReplicaState): number {
  return state === 'serving' ? 0 : state === 'joining' ? 1 : 2;
}

function rankOfLiveness(liveness: Liveness): number {
  return liveness === 'alive' ? 0 : 1;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

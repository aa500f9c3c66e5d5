// Where the placement controller may truncate each shard's etcd log: before the lowest snapshot any
// replica placed on the shard reports (`replicas/<dir>/<shard>/<worker>`.snapshotSeq). Every placed
// replica must report one — joining, serving or leaving alike, and one without a report (just placed,
// or its worker's lease is gone) holds truncation back — so no placed replica ever loses a record it
// has not covered by a snapshot of its own. A replica placed later starts from a peer's snapshot.
import type { Assignment } from './placement-plan.ts';

export interface SnapshotReport { snapshotSeq: number }

/** Shard → the seq to truncate before (records below it go); shards that may not be truncated are absent. */
export function truncationPoints(assignment: Assignment, reports: Record<string, Record<string, SnapshotReport>>): Map<string, number> {
  const points = new Map<string, number>();
  for (const [shard, replicas] of Object.entries(assignment)) {
    if (replicas.length === 0) continue;
    let lowest = Infinity;
    for (const { worker } of replicas) lowest = Math.min(lowest, reports[shard]?.[worker]?.snapshotSeq ?? 0);
    if (lowest > 0) points.set(shard, lowest + 1);
  }
  return points;
}

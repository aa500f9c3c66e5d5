// The placement planner: a table test per rule (distinct workers and zones, capacity, grace,
// add-then-remove, too few workers, no churn), then seeded random inputs checked for the invariants
// every plan keeps (and that repeatedly planning while the workers catch up converges).
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import {
  planPlacement,
  type Assignment,
  type PlacementInput,
  type PlacementPlan,
  type PlacementWorker,
  type ReplicaReport,
} from '../../src/cluster/placement-plan.ts';
import { randomInt, seeded, type Random } from '../helpers/random.ts';

const NOW = 1_000_000;
const GRACE = 10_000;

function worker(id: string, zone: string, extra: Partial<PlacementWorker> = {}): PlacementWorker {
  return { id, zone, capacity: 1, alive: true, ...extra };
}

function input(partial: Partial<PlacementInput>): PlacementInput {
  return { workers: [], shards: [], current: {}, reports: {}, nowMs: NOW, graceMs: GRACE, ...partial };
}

function shards(count: number, replicas: number, prefix = 'c1') {
  return Array.from({ length: count }, (_, i) => ({ key: `${prefix}/${i}`, replicas }));
}

/** What the workers would report once every placed replica caught up and every leaving one closed. */
function caughtUp(assignment: Assignment): Record<string, Record<string, ReplicaReport>> {
  const reports: Record<string, Record<string, ReplicaReport>> = {};
  for (const [key, replicas] of Object.entries(assignment)) {
    reports[key] = {};
    for (const replica of replicas) if (replica.state !== 'leaving') reports[key][replica.worker] = { serving: true };
  }
  return reports;
}

/** Plans, lets the workers catch up, and plans again until nothing moves (a bounded number of rounds). */
function settle(start: PlacementInput): PlacementPlan {
  let current = start;
  for (let round = 0; round < 6; round++) {
    const plan = planPlacement(current);
    if (plan.moves.length === 0 && round > 0) return plan;
    current = { ...current, current: plan.assignment, reports: caughtUp(plan.assignment) };
  }
  assert.fail('placement did not settle in 6 rounds');
}

function workersOf(plan: PlacementPlan, key: string, state?: string): string[] {
  return plan.assignment[key]!.filter((replica) => state === undefined || replica.state === state).map((replica) => replica.worker);
}

function zonesOf(plan: PlacementPlan, workers: readonly PlacementWorker[], key: string): string[] {
  return workersOf(plan, key).map((id) => workers.find((w) => w.id === id)!.zone);
}

describe('placement rules', () => {
  test('a new shard gets R joining replicas on distinct workers in distinct zones', () => {
    const workers = [worker('w1', 'a'), worker('w2', 'a'), worker('w3', 'b'), worker('w4', 'c')];
    const plan = planPlacement(input({ workers, shards: shards(8, 3) }));
    for (const key of Object.keys(plan.assignment)) {
      assert.equal(plan.assignment[key]!.length, 3);
      assert.ok(plan.assignment[key]!.every((replica) => replica.state === 'joining'));
      assert.deepEqual(new Set(zonesOf(plan, workers, key)), new Set(['a', 'b', 'c']), key);
    }
    assert.deepEqual(plan.warnings, []);
    assert.equal(plan.moves.filter((move) => move.action === 'add').length, 24);
  });

  test('with fewer zones than R the replicas still go to distinct workers', () => {
    const workers = [worker('w1', 'a'), worker('w2', 'a'), worker('w3', 'b')];
    const plan = planPlacement(input({ workers, shards: shards(4, 3) }));
    for (const key of Object.keys(plan.assignment)) assert.deepEqual(workersOf(plan, key), ['w1', 'w2', 'w3']);
    assert.deepEqual(plan.warnings, []);
  });

  test('fewer workers than R: as many replicas as workers, and a warning naming the shard', () => {
    const plan = planPlacement(input({ workers: [worker('w1', 'a'), worker('w2', 'b')], shards: shards(1, 3) }));
    assert.deepEqual(workersOf(plan, 'c1/0'), ['w1', 'w2']);
    assert.equal(plan.warnings.length, 1);
    assert.match(plan.warnings[0]!, /shard c1\/0 has 2 of 3 replicas/);
  });

  test('more replicas go to workers of larger capacity, in proportion', () => {
    const workers = [worker('small', 'a', { capacity: 1 }), worker('medium', 'a', { capacity: 2 }), worker('large', 'a', { capacity: 5 })];
    const plan = planPlacement(input({ workers, shards: shards(80, 1) }));
    const counts = new Map<string, number>();
    for (const replicas of Object.values(plan.assignment)) counts.set(replicas[0]!.worker, (counts.get(replicas[0]!.worker) ?? 0) + 1);
    assert.ok(Math.abs(counts.get('small')! - 10) <= 1, `small got ${counts.get('small')}`);
    assert.ok(Math.abs(counts.get('medium')! - 20) <= 1, `medium got ${counts.get('medium')}`);
    assert.ok(Math.abs(counts.get('large')! - 50) <= 1, `large got ${counts.get('large')}`);
  });

  test('equal workers share shards evenly, and the stable hash spreads which shards each one gets', () => {
    const workers = [worker('w1', 'a'), worker('w2', 'b'), worker('w3', 'c')];
    const plan = planPlacement(input({ workers, shards: shards(30, 1) }));
    const owners = Object.keys(plan.assignment).sort().map((key) => plan.assignment[key]![0]!.worker);
    for (const id of ['w1', 'w2', 'w3']) assert.equal(owners.filter((owner) => owner === id).length, 10);
    const roundRobin = owners.every((owner, i) => owner === ['w1', 'w2', 'w3'][i % 3]);
    assert.equal(roundRobin, false, 'placement follows the hash, not the worker order');
  });

  test('a worker without capacity gets no new replicas but keeps the ones it has', () => {
    const workers = [worker('w1', 'a'), worker('drain', 'b', { capacity: 0 })];
    const current = { 'c1/0': [{ worker: 'drain', state: 'serving' as const }] };
    const plan = planPlacement(input({ workers, shards: [{ key: 'c1/0', replicas: 1 }, { key: 'c1/1', replicas: 1 }], current }));
    assert.deepEqual(plan.assignment['c1/0'], [{ worker: 'drain', state: 'serving' }]);
    assert.deepEqual(workersOf(plan, 'c1/1'), ['w1']);
  });

  test('a dead worker keeps its replicas during the grace period and loses them after it', () => {
    const current: Assignment = { 'c1/0': [{ worker: 'w1', state: 'serving' }, { worker: 'w2', state: 'serving' }] };
    const reports = { 'c1/0': { w2: { serving: true } } };
    const within = [worker('w1', 'a', { alive: false, leaseLostSinceMs: NOW - GRACE }), worker('w2', 'b'), worker('w3', 'c')];
    const kept = planPlacement(input({ workers: within, shards: shards(1, 2), current, reports }));
    assert.deepEqual(kept.assignment, current);
    assert.deepEqual(kept.moves, []);

    const beyond = [worker('w1', 'a', { alive: false, leaseLostSinceMs: NOW - GRACE - 1 }), worker('w2', 'b'), worker('w3', 'c')];
    const moved = planPlacement(input({ workers: beyond, shards: shards(1, 2), current, reports }));
    assert.deepEqual(moved.assignment['c1/0'], [{ worker: 'w2', state: 'serving' }, { worker: 'w3', state: 'joining' }]);
    assert.deepEqual(moved.moves.map((move) => [move.worker, move.action]), [['w1', 'drop'], ['w3', 'add']]);
  });

  test('a worker missing from the list counts as gone', () => {
    const current: Assignment = { 'c1/0': [{ worker: 'ghost', state: 'serving' }] };
    const plan = planPlacement(input({ workers: [worker('w1', 'a')], shards: shards(1, 1), current }));
    assert.deepEqual(plan.assignment['c1/0'], [{ worker: 'w1', state: 'joining' }]);
  });

  test('moves are add-then-remove: the old replica leaves only once its replacement serves', () => {
    const workers = [worker('w1', 'a'), worker('w2', 'a'), worker('w3', 'b')];
    const both = { w1: { serving: true }, w2: { serving: true } };
    const start: Assignment = { 'c1/0': [{ worker: 'w1', state: 'serving' }, { worker: 'w2', state: 'serving' }] };
    const step1 = planPlacement(input({ workers, shards: shards(1, 2), current: start, reports: { 'c1/0': both } }));
    const joined = step1.assignment['c1/0']!;
    assert.equal(joined.length, 3, 'both old replicas keep serving while the new one joins');
    assert.equal(joined.filter((replica) => replica.state === 'serving').length, 2);
    assert.deepEqual(workersOf(step1, 'c1/0', 'joining'), ['w3']);

    const notYet = planPlacement(input({ workers, shards: shards(1, 2), current: step1.assignment, reports: { 'c1/0': { ...both, w3: { serving: false } } } }));
    assert.deepEqual(notYet.assignment, step1.assignment, 'a joining replica not yet serving changes nothing');

    const step2 = planPlacement(input({ workers, shards: shards(1, 2), current: step1.assignment, reports: { 'c1/0': { ...both, w3: { serving: true } } } }));
    const leaving = workersOf(step2, 'c1/0', 'leaving');
    assert.equal(leaving.length, 1);
    assert.deepEqual(workersOf(step2, 'c1/0', 'serving').length, 2);
    assert.ok(workersOf(step2, 'c1/0', 'serving').includes('w3'));

    const stillHeld = planPlacement(input({ workers, shards: shards(1, 2), current: step2.assignment, reports: { 'c1/0': { ...both, w3: { serving: true } } } }));
    assert.deepEqual(stillHeld.assignment, step2.assignment, 'a leaving replica its worker still holds stays leaving');

    const released = { w1: { serving: true }, w2: { serving: true }, w3: { serving: true } };
    delete (released as Record<string, ReplicaReport>)[leaving[0]!];
    const step3 = planPlacement(input({ workers, shards: shards(1, 2), current: step2.assignment, reports: { 'c1/0': released } }));
    assert.equal(step3.assignment['c1/0']!.length, 2);
    assert.deepEqual(new Set(zonesOf(step3, workers, 'c1/0')), new Set(['a', 'b']));
    assert.deepEqual(step3.moves.map((move) => move.action), ['drop']);
  });

  test('a leaving replica still served is taken back while the shard is short of serving replicas', () => {
    const workers = [worker('w1', 'a'), worker('w2', 'a'), worker('w3', 'b', { alive: false }), worker('w4', 'c')];
    const current: Assignment = { 'c1/0': [{ worker: 'w1', state: 'serving' }, { worker: 'w2', state: 'leaving' }, { worker: 'w3', state: 'serving' }] };
    const reports = { 'c1/0': { w1: { serving: true }, w2: { serving: true } } };
    const plan = planPlacement(input({ workers, shards: shards(1, 2), current, reports }));
    assert.deepEqual(plan.assignment['c1/0'], [{ worker: 'w1', state: 'serving' }, { worker: 'w2', state: 'serving' }, { worker: 'w4', state: 'joining' }]);
    const again = planPlacement(input({ workers, shards: shards(1, 2), current: plan.assignment, reports }));
    assert.deepEqual(again.assignment, plan.assignment);
    assert.deepEqual(again.moves, []);
  });

  test('lowering R retires the extra replicas while R keep serving', () => {
    const workers = [worker('w1', 'a'), worker('w2', 'b'), worker('w3', 'c')];
    const current: Assignment = { 'c1/0': ['w1', 'w2', 'w3'].map((id) => ({ worker: id, state: 'serving' as const })) };
    const reports = { 'c1/0': { w1: { serving: true }, w2: { serving: true }, w3: { serving: true } } };
    const plan = planPlacement(input({ workers, shards: shards(1, 2), current, reports }));
    assert.equal(workersOf(plan, 'c1/0', 'serving').length, 2);
    assert.equal(workersOf(plan, 'c1/0', 'leaving').length, 1);
  });

  test('a shard that no longer exists loses its placement', () => {
    const current: Assignment = { 'old/0': [{ worker: 'w1', state: 'serving' }] };
    const plan = planPlacement(input({ workers: [worker('w1', 'a')], shards: [], current }));
    assert.deepEqual(plan.assignment, {});
    assert.deepEqual(plan.moves, [{ shard: 'old/0', worker: 'w1', action: 'drop', reason: 'shard no longer exists' }]);
  });

  test('no churn: a valid placement stays as it is when a new, larger worker joins', () => {
    const workers = [worker('w1', 'a'), worker('w2', 'b'), worker('w3', 'c')];
    const settled = settle(input({ workers, shards: shards(6, 2) }));
    const grown = [...workers, worker('big', 'd', { capacity: 10 })];
    const again = planPlacement(input({ workers: grown, shards: shards(6, 2), current: settled.assignment, reports: caughtUp(settled.assignment) }));
    assert.deepEqual(again.assignment, settled.assignment);
    assert.deepEqual(again.moves, []);
    const withNewShard = planPlacement(input({ workers: grown, shards: [...shards(6, 2), { key: 'c2/0', replicas: 2 }], current: settled.assignment, reports: caughtUp(settled.assignment) }));
    assert.ok(workersOf(withNewShard, 'c2/0').includes('big'), 'the new shard goes to the emptiest worker by capacity');
  });
});

describe('placement invariants over seeded random inputs', () => {
  const STATES = ['joining', 'serving', 'leaving'] as const;

  function randomInput(random: Random): PlacementInput {
    const zones = ['a', 'b', 'c', 'd'].slice(0, 1 + randomInt(random, 4));
    const workers = Array.from({ length: 1 + randomInt(random, 6) }, (_, i) => {
      const alive = random() < 0.75;
      const lost = alive ? undefined : random() < 0.8 ? NOW - randomInt(random, 2 * GRACE) : undefined;
      return worker(`w${i}`, zones[randomInt(random, zones.length)]!, { capacity: randomInt(random, 4), alive, leaseLostSinceMs: lost });
    });
    const ids = [...workers.map((w) => w.id), 'ghost'];
    const shardList = Array.from({ length: 1 + randomInt(random, 8) }, (_, i) => ({ key: `c${randomInt(random, 2)}/${i}`, replicas: 1 + randomInt(random, 3) }));
    const current: Assignment = {};
    const reports: PlacementInput['reports'] = {};
    for (const shard of [...shardList, { key: 'gone/0', replicas: 1 }]) {
      if (random() < 0.2) continue;
      const held = ids.filter(() => random() < 0.35);
      current[shard.key] = held.map((id) => ({ worker: id, state: STATES[randomInt(random, 3)]! }));
      reports[shard.key] = Object.fromEntries(held.filter(() => random() < 0.6).map((id) => [id, { serving: random() < 0.6 }]));
    }
    return input({ workers, shards: shardList, current, reports });
  }

  function shuffled<T>(random: Random, items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = randomInt(random, i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  function checkInvariants(given: PlacementInput, plan: PlacementPlan): void {
    const byId = new Map(given.workers.map((w) => [w.id, w]));
    const gone = (id: string) => {
      const w = byId.get(id);
      return w === undefined || (!w.alive && (w.leaseLostSinceMs === undefined || given.nowMs - w.leaseLostSinceMs > given.graceMs));
    };
    assert.deepEqual(Object.keys(plan.assignment).sort(), given.shards.map((shard) => shard.key).sort());
    for (const shard of given.shards) {
      const replicas = plan.assignment[shard.key]!;
      const workers = replicas.map((replica) => replica.worker);
      assert.equal(new Set(workers).size, workers.length, `${shard.key}: one replica per worker`);
      assert.ok(workers.every((id) => !gone(id)), `${shard.key}: nothing on a gone worker`);
      const before = (given.current[shard.key] ?? []).filter((replica) => !gone(replica.worker));
      const servingBefore = new Set(before.filter((replica) => replica.state === 'serving').map((replica) => replica.worker)).size;
      const servingAfter = replicas.filter((replica) => replica.state === 'serving').length;
      assert.ok(servingAfter >= Math.min(shard.replicas, servingBefore), `${shard.key}: serving ${servingBefore} → ${servingAfter}`);
      const active = replicas.filter((replica) => replica.state !== 'leaving').length;
      if (active < shard.replicas) assert.ok(plan.warnings.some((warning) => warning.includes(`shard ${shard.key} `)), `${shard.key}: short without a warning`);
      for (const replica of replicas) {
        const old = before.find((r) => r.worker === replica.worker);
        if (old === undefined) assert.equal(replica.state, 'joining', `${shard.key}: a new replica starts joining`);
        if (replica.state === 'serving' && old?.state === 'joining') assert.equal(given.reports[shard.key]?.[replica.worker]?.serving, true);
        if (replica.state === 'leaving') assert.notEqual(given.reports[shard.key]?.[replica.worker], undefined, `${shard.key}: a leaving replica its worker released is dropped`);
        if (replica.state === 'serving' && old?.state === 'leaving') assert.equal(given.reports[shard.key]?.[replica.worker]?.serving, true, `${shard.key}: only a replica still served comes back`);
      }
    }
  }

  function checkSettled(given: PlacementInput, plan: PlacementPlan): void {
    const live = given.workers.filter((w) => w.alive);
    const eligible = live.filter((w) => w.capacity > 0);
    const zoneOf = (id: string) => given.workers.find((w) => w.id === id)!.zone;
    for (const shard of given.shards) {
      const replicas = plan.assignment[shard.key]!;
      const holders = new Set(replicas.map((replica) => replica.worker));
      assert.ok(replicas.every((replica) => replica.state === 'serving'), `${shard.key}: settled replicas all serve`);
      assert.ok(replicas.length <= shard.replicas, `${shard.key}: at most R replicas`);
      if (replicas.length < shard.replicas) {
        assert.ok(eligible.every((w) => holders.has(w.id)), `${shard.key}: short of R only when every eligible worker holds it`);
      }
      const zonesUsed = replicas.map((replica) => zoneOf(replica.worker));
      if (new Set(live.map((w) => w.zone)).size >= shard.replicas && new Set(zonesUsed).size < zonesUsed.length) {
        const free = eligible.filter((w) => !holders.has(w.id) && !zonesUsed.includes(w.zone));
        assert.deepEqual(free, [], `${shard.key}: zones repeat only when no eligible worker is in an unused zone`);
      }
    }
  }

  test('every plan keeps the rules, is a fixed point, and does not depend on input order', () => {
    for (let seed = 1; seed <= 400; seed++) {
      const random = seeded(seed);
      const given = randomInput(random);
      const plan = planPlacement(given);
      checkInvariants(given, plan);
      const again = planPlacement({ ...given, current: plan.assignment });
      assert.deepEqual(again.assignment, plan.assignment, `seed ${seed}: plan(plan(x)) == plan(x)`);
      assert.deepEqual(again.moves, [], `seed ${seed}: planning a plan moves nothing`);
      const reordered = planPlacement({
        ...given,
        workers: shuffled(random, given.workers),
        shards: shuffled(random, given.shards),
        current: Object.fromEntries(shuffled(random, Object.entries(given.current)).map(([key, replicas]) => [key, shuffled(random, replicas)])),
      });
      assert.deepEqual(reordered, plan, `seed ${seed}: the same input in another order plans the same`);
    }
  });

  test('planning while workers catch up settles on R serving replicas (zones distinct when they can be)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const given = randomInput(seeded(seed));
      const settled = settle(given);
      checkSettled({ ...given, current: settled.assignment }, settled);
    }
  });
});

// A linearizability checker for histories recorded by the cluster tests (no such package on npm:
// Knossos and Porcupine are Clojure and Go). Wing & Gong's search with Lowe's memoization of
// (operations linearized, state) pairs, as Porcupine does it, checked per key: linearizability is
// local (Herlihy & Wing), so a history is linearizable when each key's sub-history is, and each key
// is a small search. See https://www.anishathalye.com/2017/06/04/testing-distributed-systems-for-linearizability/
//
// An operation has an invoke and a complete time; `completeMs: null` means its outcome is unknown (a
// write that timed out or lost its connection may or may not have happened): it may take effect at
// any point after its invocation, or never. Operations whose times touch count as concurrent (clock
// granularity must not invent anomalies). Work is bounded by a step limit: past it the verdict is
// 'unknown', never a hang and never a guess.
//
// Both models are registers per key: `kvRegister` (write(k, v), read(k) → v or null) and `vectorSet`
// (upsert(id, vector), delete(id), get(id) → vector or null; vectors compared as float32).

export interface Operation<I, O> {
  client: string;
  input: I;
  /** Ignored when the outcome is unknown. */
  output?: O;
  invokeMs: number;
  /** null: the outcome is unknown. */
  completeMs: number | null;
}

/** A model of one register per key: what a write leaves, what a read saw. */
export interface RegisterModel<I, O, V> {
  name: string;
  keyOf(input: I): string;
  /** The value the register holds after this operation when it writes (null = deleted); undefined when it does not write. */
  written(input: I): V | null | undefined;
  /** The value a read returned; undefined when the operation is not a read. */
  observed(input: I, output: O | undefined): V | null | undefined;
  equal(a: V | null, b: V | null): boolean;
  describe(operation: Operation<I, O>): string;
}

export interface Anomaly<I, O> {
  key: string;
  /** A failing sub-history of that key with no operation that can be left out (1-minimal), in invoke order; `minimal` false when the step limit cut the search short. */
  operations: Operation<I, O>[];
  minimal: boolean;
  description: string;
}

export interface LinearizabilityResult<I, O> {
  /** True only when every key's history is linearizable. */
  ok: boolean;
  verdict: 'linearizable' | 'not-linearizable' | 'unknown';
  anomaly?: Anomaly<I, O>;
  /** Keys whose search hit the step limit. */
  undecidedKeys: string[];
  steps: number;
}

export interface CheckOptions {
  /** Search steps over all keys (and the minimization) before the verdict is 'unknown'. */
  maxSteps?: number;
}

const DEFAULT_MAX_STEPS = 1_000_000;

type Outcome = 'linearizable' | 'not-linearizable' | 'unknown';

export function checkLinearizable<I, O, V>(history: readonly Operation<I, O>[], model: RegisterModel<I, O, V>, options: CheckOptions = {}): LinearizabilityResult<I, O> {
  const budget = { left: options.maxSteps ?? DEFAULT_MAX_STEPS, used: 0 };
  const byKey = partition(history, model);
  const undecidedKeys: string[] = [];
  for (const [key, operations] of byKey) {
    const outcome = searchKey(operations, model, budget);
    if (outcome === 'unknown') undecidedKeys.push(key);
    if (outcome !== 'not-linearizable') continue;
    const { operations: failing, minimal } = minimize(operations, model, budget);
    const description = `${model.name} history of key ${JSON.stringify(key)} is not linearizable:\n${failing.map((op) => `  ${model.describe(op)}`).join('\n')}`;
    return { ok: false, verdict: 'not-linearizable', anomaly: { key, operations: failing, minimal, description }, undecidedKeys, steps: budget.used };
  }
  const verdict = undecidedKeys.length === 0 ? 'linearizable' : 'unknown';
  return { ok: verdict === 'linearizable', verdict, undecidedKeys, steps: budget.used };
}

/** Each key's operations, keys in sorted order (so the anomaly reported is deterministic). Reads of unknown outcome constrain nothing and are left out. */
function partition<I, O, V>(history: readonly Operation<I, O>[], model: RegisterModel<I, O, V>): Map<string, Operation<I, O>[]> {
  const byKey = new Map<string, Operation<I, O>[]>();
  for (const op of history) {
    if (op.completeMs !== null && op.completeMs < op.invokeMs) throw new Error(`operation completes before it is invoked: ${model.describe(op)}`);
    if (op.completeMs === null && model.written(op.input) === undefined) continue;
    const key = model.keyOf(op.input);
    const list = byKey.get(key) ?? byKey.set(key, []).get(key)!;
    list.push(op);
  }
  return new Map([...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Greedy delta debugging: leave out one operation at a time, keeping it out while the rest still
 * fails, until no single operation can go. A write a kept read saw is kept (the last one of its
 * value), so a stale read is reported with the writes that make it stale, not as a read of a value
 * never written.
 */
function minimize<I, O, V>(operations: Operation<I, O>[], model: RegisterModel<I, O, V>, budget: Budget): { operations: Operation<I, O>[]; minimal: boolean } {
  let failing = [...operations].sort((a, b) => a.invokeMs - b.invokeMs);
  // Chunks first (halving, as ddmin does), so a long history shrinks in a few searches, then single operations until none can go.
  let size = Math.ceil(failing.length / 2);
  while (size >= 1) {
    let changed = false;
    for (let end = failing.length; end > 0; end -= size) {
      const without = [...failing.slice(0, Math.max(0, end - size)), ...failing.slice(end)];
      if (!keepsWritersOfSeenValues(without, operations, model)) continue;
      const outcome = searchKey(without, model, budget);
      if (outcome === 'unknown') return { operations: failing, minimal: false };
      if (outcome === 'not-linearizable') {
        failing = without;
        changed = true;
      }
    }
    if (size > 1) size = Math.floor(size / 2);
    else if (!changed) break;
  }
  return { operations: failing, minimal: true };
}

/** Every value a read in `subset` saw that some write of `all` wrote is written by a write in `subset`. */
function keepsWritersOfSeenValues<I, O, V>(subset: readonly Operation<I, O>[], all: readonly Operation<I, O>[], model: RegisterModel<I, O, V>): boolean {
  const writesValue = (op: Operation<I, O>, value: V) => {
    const written = model.written(op.input);
    return written !== undefined && written !== null && model.equal(written, value);
  };
  return subset.every((op) => {
    const seen = model.observed(op.input, op.output);
    if (seen === undefined || seen === null || !all.some((w) => writesValue(w, seen))) return true;
    return subset.some((w) => writesValue(w, seen));
  });
}

interface Budget {
  left: number;
  used: number;
}

/** One event of the history: an operation's call or its return, in a doubly linked list (Lowe's lift and unlift). */
interface Entry {
  call: boolean;
  op: number;
  timeMs: number;
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

/**
 * Wing & Gong: walk the events; at a call, try to linearize that operation now (its step must be
 * possible from the current state); if the resulting (set linearized, state) was seen before, that
 * branch is already explored; at a return whose call is not linearized yet, backtrack. The register
 * state is the index of the write that set it (-1: initial null), so states are small and equal
 * values share one index.
 */
function searchKey<I, O, V>(operations: readonly Operation<I, O>[], model: RegisterModel<I, O, V>, budget: Budget): Outcome {
  const { values, stateAfter } = registerStates(operations, model);
  const head = buildEntries(operations);
  const seen = new Set<string>();
  const stack: { entry: Entry; state: number }[] = [];
  let linearized = 0n;
  let state = -1;
  let entry = head.next;
  while (head.next !== null) {
    if (budget.left <= 0) return 'unknown';
    budget.left--;
    budget.used++;
    if (entry!.call) {
      const next = stepOf(operations[entry!.op]!, model, values, state, stateAfter[entry!.op]!);
      const bits = linearized | (1n << BigInt(entry!.op));
      if (next !== null && !seen.has(`${bits.toString(36)}:${next}`)) {
        seen.add(`${bits.toString(36)}:${next}`);
        stack.push({ entry: entry!, state });
        state = next;
        linearized = bits;
        lift(entry!);
        entry = head.next;
      } else {
        entry = entry!.next;
      }
    } else {
      const top = stack.pop();
      if (top === undefined) return 'not-linearizable';
      state = top.state;
      linearized &= ~(1n << BigInt(top.entry.op));
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return 'linearizable';
}

/** The state after op i linearizes from `state`, or null when its observed output is impossible there. */
function stepOf<I, O, V>(op: Operation<I, O>, model: RegisterModel<I, O, V>, values: (V | null)[], state: number, after: number | undefined): number | null {
  if (after !== -2) return after!;
  if (op.completeMs === null) return state;
  const seenValue = model.observed(op.input, op.output)!;
  const current = state === -1 ? null : values[state]!;
  return model.equal(current, seenValue) ? state : null;
}

/** Per operation: for a write, the state it leaves (the first write of an equal value); -2 for a read. */
function registerStates<I, O, V>(operations: readonly Operation<I, O>[], model: RegisterModel<I, O, V>): { values: (V | null)[]; stateAfter: number[] } {
  const values: (V | null)[] = [];
  const stateAfter = operations.map((op, i) => {
    const value = model.written(op.input);
    values.push(value ?? null);
    if (value === undefined) return -2;
    if (value === null) return -1;
    const first = values.findIndex((other, j) => j < i && other !== null && model.written(operations[j]!.input) !== undefined && model.equal(other, value));
    return first === -1 ? i : first;
  });
  return { values, stateAfter };
}

/** The events in time order; a call before a return at the same time, so touching operations are concurrent. */
function buildEntries<I, O>(operations: readonly Operation<I, O>[]): Entry {
  const events: Entry[] = [];
  operations.forEach((op, i) => {
    const call: Entry = { call: true, op: i, timeMs: op.invokeMs, match: null, prev: null, next: null };
    const ret: Entry = { call: false, op: i, timeMs: op.completeMs ?? Infinity, match: call, prev: null, next: null };
    call.match = ret;
    events.push(call, ret);
  });
  events.sort((a, b) => a.timeMs - b.timeMs || Number(b.call) - Number(a.call) || a.op - b.op);
  const head: Entry = { call: false, op: -1, timeMs: -Infinity, match: null, prev: null, next: null };
  let last = head;
  for (const event of events) {
    last.next = event;
    event.prev = last;
    last = event;
  }
  return head;
}

function lift(call: Entry): void {
  call.prev!.next = call.next;
  call.next!.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next !== null) ret.next.prev = ret.prev;
}

function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== null) ret.next.prev = ret;
  call.prev!.next = call;
  call.next!.prev = call;
}

export interface SessionViolation<I, O> {
  client: string;
  read: Operation<I, O>;
  /** The client's own latest write to that key that completed before the read began. */
  ownWrite: Operation<I, O>;
  description: string;
}

/**
 * Session consistency (read your writes): a client's read of a key that one of its own writes
 * completed before must see that write or one not known to precede it (in real time), never the
 * state from before it. Other clients' writes impose nothing here.
 */
export function checkSessionReads<I, O, V>(history: readonly Operation<I, O>[], model: RegisterModel<I, O, V>): { ok: boolean; violations: SessionViolation<I, O>[] } {
  const violations: SessionViolation<I, O>[] = [];
  const writes = history.filter((op) => model.written(op.input) !== undefined);
  for (const read of history) {
    if (read.completeMs === null) continue;
    const seen = model.observed(read.input, read.output);
    if (seen === undefined) continue;
    const key = model.keyOf(read.input);
    const own = writes
      .filter((w) => w.client === read.client && w.completeMs !== null && w.completeMs < read.invokeMs && model.keyOf(w.input) === key)
      .sort((a, b) => a.completeMs! - b.completeMs!)
      .at(-1);
    if (own === undefined) continue;
    const explained = writes.some((w) => model.keyOf(w.input) === key && model.equal(model.written(w.input)!, seen)
      && !(w.completeMs !== null && w.completeMs < own.invokeMs));
    if (!explained) {
      violations.push({ client: read.client, read, ownWrite: own, description: `client ${read.client}: ${model.describe(read)} after its own ${model.describe(own)}` });
    }
  }
  return { ok: violations.length === 0, violations };
}

export type KvInput = { kind: 'write'; key: string; value: string } | { kind: 'read'; key: string };

/** write(k, v); read(k) → v or null. */
export const kvRegister: RegisterModel<KvInput, string | null, string> = {
  name: 'register',
  keyOf: (input) => input.key,
  written: (input) => (input.kind === 'write' ? input.value : undefined),
  observed: (input, output) => (input.kind === 'read' ? output ?? null : undefined),
  equal: (a, b) => a === b,
  describe: (op) => `${op.client} ${op.input.kind}(${op.input.key}${op.input.kind === 'write' ? `, ${op.input.value}` : ''})${outcomeText(op)} [${op.invokeMs}, ${op.completeMs ?? '?'}]`,
};

export type VectorInput = { kind: 'upsert'; id: string; vector: readonly number[] } | { kind: 'delete'; id: string } | { kind: 'get'; id: string };

/** upsert(id, vector), delete(id); get(id) → vector or null (absent). Vectors are stored as float32, so compared as float32. */
export const vectorSet: RegisterModel<VectorInput, readonly number[] | null, readonly number[]> = {
  name: 'vector set',
  keyOf: (input) => input.id,
  written: (input) => (input.kind === 'upsert' ? input.vector : input.kind === 'delete' ? null : undefined),
  observed: (input, output) => (input.kind === 'get' ? output ?? null : undefined),
  equal: (a, b) => (a === null || b === null ? a === b : a.length === b.length && a.every((x, i) => Math.fround(x) === Math.fround(b[i]!))),
  describe: (op) => `${op.client} ${op.input.kind}(${op.input.id}${op.input.kind === 'upsert' ? `, [${op.input.vector.slice(0, 3).join(', ')}${op.input.vector.length > 3 ? ', …' : ''}]` : ''})${outcomeText(op)} [${op.invokeMs}, ${op.completeMs ?? '?'}]`,
};

function outcomeText<I, O>(op: Operation<I, O>): string {
  if (op.completeMs === null) return ' → unknown';
  if (op.output === undefined) return '';
  return ` → ${JSON.stringify(op.output)}`;
}

// Equality index over top-level payload keys: key → value → slots. It answers which slots can match
// a filter's equality and $in parts, so a very selective filter is served by exact search over those
// slots instead of by widening an HNSW search. A key is indexed from its first appearance (so its
// postings are complete) until `maxKeys` keys are indexed; keys first seen after that are never indexed.
import type { FilterNode, Payload, Scalar } from './filter.ts';

/** Candidate slots: the union of these sets (they may overlap); `count` bounds the union's size. */
export interface Candidates {
  sets: ReadonlySet<number>[];
  count: number;
}

const EMPTY: ReadonlySet<number> = new Set();

export class PayloadIndex {
  readonly #maxKeys: number;
  readonly #postings = new Map<string, Map<string, Set<number>>>();

  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
  }

  add(slot: number, payload: Payload): void {
    for (const [key, value] of Object.entries(payload)) {
      let byValue = this.#postings.get(key);
      if (byValue === undefined) {
        if (this.#postings.size >= this.#maxKeys) continue;
        byValue = new Map();
        this.#postings.set(key, byValue);
      }
      for (const v of indexable(value)) {
        const k = valueKey(v);
        let slots = byValue.get(k);
        if (slots === undefined) byValue.set(k, (slots = new Set()));
        slots.add(slot);
      }
    }
  }

  remove(slot: number, payload: Payload): void {
    for (const [key, value] of Object.entries(payload)) {
      const byValue = this.#postings.get(key);
      if (byValue === undefined) continue;
      for (const v of indexable(value)) {
        const k = valueKey(v);
        const slots = byValue.get(k);
        slots?.delete(slot);
        if (slots?.size === 0) byValue.delete(k);
      }
    }
  }

  /** A superset of the slots that can match `node`, or null when the index cannot narrow it. */
  candidates(node: FilterNode): Candidates | null {
    switch (node.kind) {
      case 'eq': return this.#union(node.path, [node.value]);
      case 'in': return this.#union(node.path, node.values);
      case 'and': {
        let best: Candidates | null = null;
        for (const child of node.children) {
          const c = this.candidates(child);
          if (c !== null && (best === null || c.count < best.count)) best = c;
        }
        return best;
      }
      case 'or': {
        const parts = node.children.map((child) => this.candidates(child));
        if (parts.some((p) => p === null)) return null;
        const sets = parts.flatMap((p) => p!.sets);
        return { sets, count: sets.reduce((n, s) => n + s.size, 0) };
      }
      default: return null;
    }
  }

  #union(path: string[], values: readonly Scalar[]): Candidates | null {
    if (path.length !== 1) return null;
    const byValue = this.#postings.get(path[0]!);
    if (byValue === undefined) return null;
    const sets = values.map((v) => byValue.get(valueKey(v)) ?? EMPTY);
    return { sets, count: sets.reduce((n, s) => n + s.size, 0) };
  }
}

function indexable(value: unknown): Scalar[] {
  const values = Array.isArray(value) ? value : [value];
  return values.filter((v): v is Scalar => v === null || ['string', 'number', 'boolean'].includes(typeof v));
}

function valueKey(v: Scalar): string {
  return v === null ? 'z' : `${(typeof v)[0]}${String(v)}`;
}

// What `session` consistency waits on: for each collection this session wrote to, the highest log
// position (seq) of its writes per shard. A read at `session` level asks a replica that has applied
// at least that. Bounded: past maxCollections the least recently written collection is forgotten, and
// from then on a collection with no entry may have been written by this session, so such a read
// needs the log's committed positions instead (linearizable), never a possibly stale answer.
export type SessionRead =
  | { kind: 'positions'; positions: ReadonlyMap<number, number> }
  | { kind: 'none' }
  | { kind: 'forgotten' };

export class SessionPositions {
  readonly #maxCollections: number;
  /** By collection incarnation (CollectionEntry.dir), least recently written first. */
  readonly #byCollection = new Map<string, Map<number, number>>();
  #forgotSome = false;

  constructor(maxCollections: number) {
    if (!Number.isInteger(maxCollections) || maxCollections < 1) throw new RangeError('maxCollections must be a positive integer');
    this.#maxCollections = maxCollections;
  }

  /** A write to the collection was acknowledged at these positions (shard → seq). */
  note(collection: string, positions: Readonly<Record<number, number>>): void {
    const known = this.#byCollection.get(collection) ?? new Map<number, number>();
    this.#byCollection.delete(collection);
    for (const [shard, seq] of Object.entries(positions)) {
      const s = Number(shard);
      if (seq > (known.get(s) ?? 0)) known.set(s, seq);
    }
    this.#byCollection.set(collection, known);
    while (this.#byCollection.size > this.#maxCollections) {
      this.#byCollection.delete(this.#byCollection.keys().next().value!);
      this.#forgotSome = true;
    }
  }

  /** What a session-level read of the collection must wait for. */
  of(collection: string): SessionRead {
    const positions = this.#byCollection.get(collection);
    if (positions !== undefined) return { kind: 'positions', positions };
    return this.#forgotSome ? { kind: 'forgotten' } : { kind: 'none' };
  }

  get size(): number { return this.#byCollection.size; }

  /** What is remembered, least recently written first (for EXPLAIN and tests). */
  entries(): IterableIterator<[string, ReadonlyMap<number, number>]> { return this.#byCollection.entries(); }
}

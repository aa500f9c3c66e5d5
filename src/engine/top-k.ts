// Bounded max-heap of (distance, item): keeps the k smallest distances seen, in O(log k) per offer.

export class TopK<T> {
  readonly k: number;
  readonly #distances: number[] = [];
  readonly #items: T[] = [];

  constructor(k: number) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
    this.k = k;
  }

  get size(): number { return this.#items.length; }

  /** The largest kept distance, or Infinity while fewer than k are kept. */
  get bound(): number { return this.#items.length < this.k ? Infinity : this.#distances[0]!; }

  offer(distance: number, item: T): void {
    if (this.#items.length < this.k) {
      this.#distances.push(distance);
      this.#items.push(item);
      this.#up(this.#items.length - 1);
    } else if (distance < this.#distances[0]!) {
      this.#distances[0] = distance;
      this.#items[0] = item;
      this.#down(0);
    }
  }

  /** Kept entries in heap order (the caller sorts them by what it needs, e.g. distance then id). */
  entries(): { distance: number; item: T }[] {
    return this.#items.map((item, i) => ({ distance: this.#distances[i]!, item }));
  }

  #swap(a: number, b: number): void {
    [this.#distances[a], this.#distances[b]] = [this.#distances[b]!, this.#distances[a]!];
    [this.#items[a], this.#items[b]] = [this.#items[b]!, this.#items[a]!];
  }

  #up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#distances[parent]! >= this.#distances[i]!) return;
      this.#swap(parent, i);
      i = parent;
    }
  }

  #down(i: number): void {
    const n = this.#items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let largest = i;
      if (l < n && this.#distances[l]! > this.#distances[largest]!) largest = l;
      if (r < n && this.#distances[r]! > this.#distances[largest]!) largest = r;
      if (largest === i) return;
      this.#swap(largest, i);
      i = largest;
    }
  }
}

// When an etcd watch of ours breaks, the store lists its prefix again after a back-off that doubles
// while etcd stays away (up to 16 × the base), and goes back to the base once a watch connects.
// Shared by the catalog store and the prefix mirrors; at most one re-list is pending at a time.
const MAX_BACKOFF_FACTOR = 16;

export class Resync {
  readonly #baseMs: number;
  readonly #sync: () => Promise<void>;
  #factor = 1;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  /** sync: lists and watches again; a failure schedules the next try. */
  constructor(baseMs: number, sync: () => Promise<void>) {
    this.#baseMs = baseMs;
    this.#sync = sync;
  }

  /** Lists again after the current back-off (no-op while one is pending or after stop). */
  schedule(): void {
    if (this.#timer !== null || this.#stopped) return;
    const delayMs = this.#baseMs * this.#factor;
    this.#factor = Math.min(this.#factor * 2, MAX_BACKOFF_FACTOR);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#sync().catch(() => this.schedule());
    }, delayMs);
    this.#timer.unref();
  }

  /** A watch connected: the next break waits the base again. */
  reset(): void { this.#factor = 1; }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

// Identical searches in flight share one execution (the seed's "coalescing", Go's singleflight): the
// first runs, later ones with the same key material wait for its answer. Bounded twice: at most
// searchCoalesceMaxKeys executions are joinable and each takes at most searchCoalesceMaxWaiters
// waiters; past either, a search simply runs on its own. A waiter's own cancellation or time limit
// still applies: it stops waiting (the execution goes on for the others).

interface InFlight<T> { material: Buffer; answer: Promise<T>; waiters: number }

export class SearchCoalescer<T> {
  readonly #inFlight = new Map<string, InFlight<T>>();
  #joined = 0;

  constructor(private readonly maxKeys: number, private readonly maxWaiters: number) {}

  /** Searches that got another's answer instead of running. */
  get joined(): number { return this.#joined; }

  get inFlight(): number { return this.#inFlight.size; }

  /**
   * run()'s answer, or that of an identical execution already in flight. run must not depend on this
   * caller's signal (others may share its answer); each caller stops waiting when its own signal aborts.
   */
  async run(key: string, material: Buffer, signal: AbortSignal, run: () => Promise<T>): Promise<T> {
    const current = this.#inFlight.get(key);
    if (current !== undefined && current.material.equals(material) && current.waiters < this.maxWaiters) {
      current.waiters++;
      this.#joined++;
      return untilAborted(current.answer, signal);
    }
    if (current !== undefined || this.#inFlight.size >= this.maxKeys) return untilAborted(run(), signal);
    const answer = run();
    const entry: InFlight<T> = { material, answer, waiters: 0 };
    this.#inFlight.set(key, entry);
    const settled = () => { if (this.#inFlight.get(key) === entry) this.#inFlight.delete(key); };
    answer.then(settled, settled);
    return untilAborted(answer, signal);
  }
}

/** The answer, or the signal's reason once it aborts (the shared execution is not this waiter's to stop). */
function untilAborted<T>(answer: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    answer.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

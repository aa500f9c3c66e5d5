// A circuit breaker in front of a reranker service, so a service that is down costs the searches
// nothing but the first few timeouts: after failureThreshold consecutive failures it is not called
// for openMs, then one trial call decides whether it is back. The states are those of Nygard,
// "Release It!" (2nd ed., ch. 5, Circuit Breaker), https://martinfowler.com/bliki/CircuitBreaker.html:
// - closed: calls go through; a failure adds one to the count, a success resets it;
// - open: calls are refused (RerankCircuitOpenError) until the cool-down ends;
// - half-open: the cool-down has ended; the next call is the trial, and while it runs other calls
//   are refused as in open. The trial's success closes the circuit, its failure opens it for another openMs.
// A call that was let through before the circuit opened and ends after does not change the state:
// the trial alone decides, not a straggler from before the cool-down.
import { RerankCircuitOpenError } from './reranker.ts';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold?: number;
  /** How long an open circuit refuses calls before it lets a trial through. */
  openMs?: number;
  /** The clock, in ms (tests step it instead of sleeping). */
  now?: () => number;
}

export const CIRCUIT_BREAKER_DEFAULTS = { failureThreshold: 5, openMs: 10_000 } as const;

export type CircuitState =
  | { kind: 'closed'; failures: number }
  | { kind: 'open'; failures: number; retryInMs: number }
  | { kind: 'half-open'; failures: number };

export class CircuitBreaker {
  readonly #failureThreshold: number;
  readonly #openMs: number;
  readonly #now: () => number;
  /** Consecutive failures. */
  #failures = 0;
  /** When the cool-down ends, while the circuit is open or half-open; null when closed. */
  #openUntilMs: number | null = null;
  #trialRunning = false;
  /** Changes whenever the circuit opens or closes, so a call knows whether its outcome still counts. */
  #epoch = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    const { failureThreshold, openMs } = { ...CIRCUIT_BREAKER_DEFAULTS, ...options };
    if (!Number.isInteger(failureThreshold) || failureThreshold < 1) throw new RangeError(`failureThreshold must be an integer ≥ 1, not ${failureThreshold}`);
    if (!(openMs >= 0)) throw new RangeError(`openMs must be ≥ 0, not ${openMs}`);
    this.#failureThreshold = failureThreshold;
    this.#openMs = openMs;
    this.#now = options.now ?? (() => performance.now());
  }

  state(): CircuitState {
    const failures = this.#failures;
    if (this.#openUntilMs === null) return { kind: 'closed', failures };
    const retryInMs = this.#openUntilMs - this.#now();
    if (retryInMs > 0) return { kind: 'open', failures, retryInMs: Math.ceil(retryInMs) };
    return { kind: 'half-open', failures };
  }

  /**
   * Runs call unless the circuit refuses it; resolves or rejects as call does. A refusal rejects
   * with RerankCircuitOpenError(target, retryInMs) without calling (retryInMs 0 while a trial runs:
   * its end decides). Any rejection of call is a failure.
   */
  async run<T>(target: string, call: () => Promise<T>): Promise<T> {
    let trial = false;
    if (this.#openUntilMs !== null) {
      const retryInMs = this.#openUntilMs - this.#now();
      if (retryInMs > 0) throw new RerankCircuitOpenError(target, Math.ceil(retryInMs));
      if (this.#trialRunning) throw new RerankCircuitOpenError(target, 0);
      trial = true;
      this.#trialRunning = true;
    }
    const epoch = this.#epoch;
    try {
      const result = await call();
      if (epoch === this.#epoch) this.#succeeded();
      return result;
    } catch (err) {
      if (epoch === this.#epoch) this.#failed();
      throw err;
    } finally {
      if (trial) this.#trialRunning = false;
    }
  }

  #succeeded(): void {
    this.#failures = 0;
    if (this.#openUntilMs !== null) {
      this.#openUntilMs = null;
      this.#epoch++;
    }
  }

  #failed(): void {
    this.#failures++;
    // Closed: open at the threshold. Half-open (the trial failed): open again.
    if (this.#openUntilMs !== null || this.#failures >= this.#failureThreshold) {
      this.#openUntilMs = this.#now() + this.#openMs;
      this.#epoch++;
    }
  }
}

// The limit store behind per-role quotas (src/sql/tenant.ts decides which limits apply and raises
// 53400; this seam only counts). Per proxy today: token buckets and concurrency slots in memory. In a
// cluster the same interface is served from etcd (docs/architecture.md, "Quotas"), so every proxy
// enforces one shared budget per role.
//
// Token buckets hold one second's worth of tokens (burst = rate). A request waits for its tokens by
// reserving them at once (the bucket may go below zero) and sleeping until they would have refilled,
// so concurrent waiters are served in arrival order and none is overtaken; a request that would wait
// longer than it may is refused without taking anything. A request larger than the burst is admitted
// once the bucket is full and leaves it in debt, so one large batch is possible and the average rate
// still holds.

export interface Clock {
  nowMs(): number;
  /** Resolves after `ms`; rejects with the signal's reason if it aborts first. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const REAL_CLOCK: Clock = {
  nowMs: () => performance.now(),
  sleep: (ms, signal) => new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  }),
};

export interface TokenRequest {
  /** The tenant: a login role. */
  role: string;
  /** Which of the role's buckets, e.g. `searches`, `write_rows`. */
  bucket: string;
  count: number;
  /** Refill rate, tokens per second (> 0); the bucket holds at most one second's worth. */
  ratePerSecond: number;
  /** How long the request may wait for its tokens; 0 = only what is there now. */
  maxWaitMs: number;
  signal: AbortSignal;
}

/** Releases a concurrency slot; calling it again does nothing. */
export type SlotRelease = () => void;

export interface QuotaStore {
  /**
   * Takes `count` tokens, waiting at most `maxWaitMs` for them. Resolves true once taken, false when
   * they would not come in time (nothing is taken); rejects with the signal's reason when it aborts
   * while waiting (nothing is taken).
   */
  take(request: TokenRequest): Promise<boolean>;
  /** One of the role's `limit` concurrency slots, or null when all are held. */
  acquire(role: string, limit: number): Promise<SlotRelease | null>;
}

interface Bucket {
  tokens: number;
  ratePerSecond: number;
  updatedMs: number;
}

interface RoleState {
  buckets: Map<string, Bucket>;
  /** Concurrency slots held now. */
  slots: number;
  /** Requests sleeping for tokens now. */
  waiting: number;
}

export interface LocalQuotaStoreOptions {
  /**
   * Roles whose buckets are remembered. Past it the least recently used role that holds no slot and
   * has no waiter is forgotten (its buckets start full again next time), so memory stays bounded:
   * at most this many roles plus those with statements running.
   */
  maxTrackedRoles: number;
  clock?: Clock;
}

export class LocalQuotaStore implements QuotaStore {
  /** In least-recently-used order (a touched role moves to the end). */
  private readonly roles = new Map<string, RoleState>();
  private readonly clock: Clock;

  constructor(private readonly options: LocalQuotaStoreOptions) {
    this.clock = options.clock ?? REAL_CLOCK;
  }

  /** Roles remembered now (for tests and metrics). */
  get trackedRoles(): number {
    return this.roles.size;
  }

  async take(request: TokenRequest): Promise<boolean> {
    const { count, ratePerSecond, maxWaitMs, signal } = request;
    if (signal.aborted) throw signal.reason;
    if (count <= 0) return true;
    const state = this.state(request.role);
    const bucket = this.refilled(state, request.bucket, ratePerSecond);
    const needed = Math.min(count, ratePerSecond);
    const waitMs = bucket.tokens >= needed ? 0 : ((needed - bucket.tokens) * 1000) / ratePerSecond;
    if (waitMs > maxWaitMs) return false;
    bucket.tokens -= count;
    if (waitMs === 0) return true;
    state.waiting++;
    try {
      await this.clock.sleep(waitMs, signal);
      return true;
    } catch (err) {
      bucket.tokens += count;
      throw err;
    } finally {
      state.waiting--;
    }
  }

  async acquire(role: string, limit: number): Promise<SlotRelease | null> {
    const state = this.state(role);
    if (state.slots >= limit) return null;
    state.slots++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      state.slots--;
    };
  }

  /** The role's state, made most recently used; a new role may evict an idle one. */
  private state(role: string): RoleState {
    let state = this.roles.get(role);
    if (state !== undefined) {
      this.roles.delete(role);
    } else {
      this.evictIdle();
      state = { buckets: new Map(), slots: 0, waiting: 0 };
    }
    this.roles.set(role, state);
    return state;
  }

  private evictIdle(): void {
    if (this.roles.size < this.options.maxTrackedRoles) return;
    for (const [role, state] of this.roles) {
      if (state.slots === 0 && state.waiting === 0) {
        this.roles.delete(role);
        if (this.roles.size < this.options.maxTrackedRoles) return;
      }
    }
  }

  /** The bucket with the tokens accrued since it was last used; a changed rate applies from now. */
  private refilled(state: RoleState, name: string, ratePerSecond: number): Bucket {
    const now = this.clock.nowMs();
    let bucket = state.buckets.get(name);
    if (bucket === undefined) {
      bucket = { tokens: ratePerSecond, ratePerSecond, updatedMs: now };
      state.buckets.set(name, bucket);
      return bucket;
    }
    const elapsedMs = Math.max(0, now - bucket.updatedMs);
    bucket.tokens = Math.min(ratePerSecond, bucket.tokens + (elapsedMs * bucket.ratePerSecond) / 1000);
    bucket.ratePerSecond = ratePerSecond;
    bucket.updatedMs = now;
    return bucket;
  }
}

// The rerankers a proxy holds: the one built-in BM25 scorer, and per HTTP endpoint a reranker with its
// connection pool and circuit breaker, at most rerankMaxTargets of them (the least recently used is
// closed past it, so a stream of distinct URLs cannot grow sockets or memory without bound).
import { LRUCache } from 'lru-cache';
import type { Config } from '../../config.ts';
import { SqlState, VectorgateError } from '../../errors.ts';
import { hostAllowed } from '../policies.ts';
import { Bm25Reranker } from './bm25.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { HttpReranker } from './http-reranker.ts';
import { RerankError, type Reranker, type RerankerKind } from './reranker.ts';

export interface RerankTarget { reranker: Reranker; breaker: CircuitBreaker | null }

export class Rerankers {
  readonly #bm25: RerankTarget;
  readonly #http: LRUCache<string, { reranker: HttpReranker; breaker: CircuitBreaker }>;
  readonly #closing = new Set<Promise<void>>();

  constructor(private readonly config: Config) {
    this.#bm25 = { reranker: new Bm25Reranker({ maxTokensPerText: config.rerankMaxTokensPerText }), breaker: null };
    this.#http = new LRUCache({
      max: config.rerankMaxTargets,
      dispose: (target) => {
        const closed = target.reranker.close().catch(() => undefined).finally(() => this.#closing.delete(closed));
        this.#closing.add(closed);
      },
    });
  }

  /**
   * The reranker of a plan. The URL's host is checked against rerankerAllowedHosts again here: the
   * policy was checked when it was set, but the configuration may have changed since (42501).
   */
  get(kind: RerankerKind, url: string): RerankTarget {
    if (kind === 'bm25') return this.#bm25;
    // The SQL layer refuses a plan without a URL (22023); here it can only fall back.
    if (url === '') throw new RerankError(`reranker ${kind} has no reranker_url`);
    if (!hostAllowed(new URL(url), this.config.rerankerAllowedHosts)) {
      throw new VectorgateError(SqlState.InsufficientPrivilege, `reranker host ${new URL(url).host} is not in rerankerAllowedHosts`, { hint: 'The server configuration lists the hosts a reranker may be called at.' });
    }
    const key = `${kind} ${url}`;
    let target = this.#http.get(key);
    if (target === undefined) {
      target = {
        reranker: new HttpReranker(url, {
          kind, maxTextBytes: this.config.rerankMaxTextBytes, maxResponseBytes: this.config.rerankMaxResponseBytes, maxConnections: this.config.rerankMaxConnectionsPerHost,
        }),
        breaker: new CircuitBreaker({ failureThreshold: this.config.rerankCircuitFailures, openMs: this.config.rerankCircuitOpenMs }),
      };
      this.#http.set(key, target);
    }
    return target;
  }

  /** Closes every connection pool. */
  async close(): Promise<void> {
    this.#http.clear();
    await Promise.all([...this.#closing]);
  }
}

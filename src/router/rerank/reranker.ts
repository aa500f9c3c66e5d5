// The reranker seam: something that scores candidate texts against a query text. The search pipeline
// (src/router/search-pipeline.ts) hands it the merged top-N's texts and orders them by its scores; it
// never lets a reranker fail a search: a timeout, an error or an open circuit falls back to vector
// order (src/router/rerank/rerank-step.ts). Implementations: the built-in BM25 scorer (bm25.ts) and
// an HTTP cross-encoder service (http-reranker.ts); one contract suite runs against both
// (test/router/reranker.contract.test.ts).

export interface Reranker {
  /** What EXPLAIN and the metrics call it: 'bm25', 'http', 'cohere'. */
  readonly kind: RerankerKind;
  /**
   * One score per text, in the texts' order; higher is more relevant. Rejects with a RerankError
   * (its cause says why) and gives up when signal aborts (the step's deadline).
   */
  score(query: string, texts: readonly string[], signal: AbortSignal): Promise<Float64Array>;
}

export const RERANKER_KINDS = ['bm25', 'http', 'cohere'] as const;
export type RerankerKind = (typeof RERANKER_KINDS)[number];

/** Why a rerank fell back to vector order (a metric label and EXPLAIN's words). */
export type FallbackCause = 'timeout' | 'error' | 'circuit_open';

/** A reranker call failed; `cause` holds the underlying error (a socket error, a bad reply, …). */
export class RerankError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RerankError';
  }
}

/** The reranker did not answer before the deadline. */
export class RerankTimeoutError extends RerankError {
  constructor(readonly timeoutMs: number, options?: { cause?: unknown }) {
    super(`the reranker did not answer within ${timeoutMs} ms`, options);
    this.name = 'RerankTimeoutError';
  }
}

/** The reranker's circuit is open after repeated failures: it is not called until the cool-down ends. */
export class RerankCircuitOpenError extends RerankError {
  constructor(readonly target: string, readonly retryInMs: number) {
    super(`the circuit to ${target} is open after repeated failures; next try in ${retryInMs} ms`);
    this.name = 'RerankCircuitOpenError';
  }
}

// The rerank step of the search pipeline: hand the merged top-N's texts (payload field rerank_field)
// to the reranker, reorder by its scores, and never let it fail or stall a search. Its deadline is
// rerank_timeout_ms, cut to the statement's remaining time; on a timeout, an error or an open circuit
// the step answers in vector order and says why (EXPLAIN, the fallback metric, an optional NOTICE).
// The rules follow the seed's design: no query text, no rerank (and no over-fetch: the pipeline asks
// shards for k); candidates are merged and cut to top-N first; short query texts get a smaller top-N.
import type { Config } from '../../config.ts';
import type { SearchRow } from '../collection-types.ts';
import { tokenize } from './bm25.ts';
import { RerankCircuitOpenError, RerankError, RerankTimeoutError, type FallbackCause, type Reranker, type RerankerKind } from './reranker.ts';
import type { Rerankers } from './rerankers.ts';

/** What a search asks of the rerank step (resolved policies and the call's query_text). */
export interface RerankPlan {
  kind: RerankerKind;
  /** The endpoint for http/cohere; '' for bm25. */
  url: string;
  /** Candidates handed to the reranker, after the short-query rule (topNFor). */
  topN: number;
  timeoutMs: number;
  field: string;
  queryText: string;
}

/** What happened, for EXPLAIN and the NOTICE. */
export interface RerankOutcome {
  reranker: RerankerKind;
  candidates: number;
  ms: number;
  fellBack: { cause: FallbackCause; message: string } | null;
}

export interface RerankEvents {
  /** One rerank ended (fellBack null: its order was used). */
  reranked(kind: RerankerKind, seconds: number, fellBack: FallbackCause | null): void;
}

/**
 * The documented short-query rule (docs/reranking.md): a query text of w words, w below
 * rerankShortQueryWords, hands ceil(topN × w / rerankShortQueryWords) candidates (at least k) to the
 * reranker: a word or two say little a cross-encoder can use to lift a distant candidate, so fewer
 * far candidates are risked. 0 words: no rerank at all (0).
 */
export function topNFor(queryText: string, topN: number, k: number, config: Config): number {
  const words = tokenize(queryText).length;
  if (words === 0) return 0;
  const n = words >= config.rerankShortQueryWords ? topN : Math.ceil((topN * words) / config.rerankShortQueryWords);
  return Math.max(k, n);
}

export class RerankStep {
  constructor(private readonly rerankers: Rerankers, private readonly events: RerankEvents) {}

  /** rows: the merged candidates in vector order (at most plan.topN); the answer: all of them, reranked or not. */
  async run(rows: readonly SearchRow[], plan: RerankPlan, signal: AbortSignal, remainingMs: number): Promise<{ rows: SearchRow[]; outcome: RerankOutcome }> {
    const started = performance.now();
    // Leave the statement a little time to answer in vector order after a timeout.
    const timeoutMs = Math.max(1, Math.min(plan.timeoutMs, Math.floor(remainingMs * 0.9)));
    const outcome = (fellBack: RerankOutcome['fellBack']): RerankOutcome => ({ reranker: plan.kind, candidates: rows.length, ms: performance.now() - started, fellBack });
    try {
      const scores = await this.#score(plan, rows.map((row) => textOf(row.payload, plan.field)), signal, timeoutMs);
      const done = outcome(null);
      this.events.reranked(plan.kind, done.ms / 1000, null);
      return { rows: reorder(rows, scores), outcome: done };
    } catch (err) {
      // The statement itself was canceled or timed out: that is its error, not a reranker's.
      if (signal.aborted) throw signal.reason;
      const fellBack = fallbackOf(err);
      const done = outcome(fellBack);
      this.events.reranked(plan.kind, done.ms / 1000, fellBack.cause);
      return { rows: [...rows], outcome: done };
    }
  }

  async #score(plan: RerankPlan, texts: string[], signal: AbortSignal, timeoutMs: number): Promise<Float64Array> {
    const { reranker, breaker } = this.rerankers.get(plan.kind, plan.url);
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
    const call = () => raceAbort(reranker, plan.queryText, texts, deadline, timeoutMs);
    const scores = breaker === null ? await call() : await breaker.run(plan.url, call);
    if (scores.length !== texts.length) throw new RerankError(`the reranker returned ${scores.length} scores for ${texts.length} texts`);
    return scores;
  }
}

/** The reranker's answer, or a RerankTimeoutError once the deadline passes even if the reranker ignores its signal. */
function raceAbort(reranker: Reranker, query: string, texts: string[], deadline: AbortSignal, timeoutMs: number): Promise<Float64Array> {
  if (deadline.aborted) return Promise.reject(new RerankTimeoutError(timeoutMs, { cause: deadline.reason }));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new RerankTimeoutError(timeoutMs, { cause: deadline.reason }));
    deadline.addEventListener('abort', onAbort, { once: true });
    // After the deadline, whatever the reranker says is a timeout of the configured length.
    reranker.score(query, texts, deadline).then(resolve, (err: unknown) => {
      reject(deadline.aborted ? new RerankTimeoutError(timeoutMs, { cause: err }) : err);
    }).finally(() => deadline.removeEventListener('abort', onAbort));
  });
}

function fallbackOf(err: unknown): { cause: FallbackCause; message: string } {
  if (err instanceof RerankTimeoutError) return { cause: 'timeout', message: `timeout after ${err.timeoutMs} ms` };
  if (err instanceof RerankCircuitOpenError) return { cause: 'circuit_open', message: `circuit open (${err.message})` };
  const message = err instanceof Error ? err.message : String(err);
  return { cause: 'error', message: `error: ${message}` };
}

/** Higher score first; equal scores keep vector order (a stable sort), so the answer is deterministic. */
function reorder(rows: readonly SearchRow[], scores: Float64Array): SearchRow[] {
  const order = rows.map((_, i) => i);
  order.sort((a, b) => (scores[b]! - scores[a]!) || a - b);
  return order.map((i) => rows[i]!);
}

/** The rerank text of a row: its payload's field when that is a string (numbers as written), else ''. */
export function textOf(payload: string | null, field: string): string {
  if (payload === null) return '';
  let value: unknown;
  try {
    value = (JSON.parse(payload) as Record<string, unknown> | null)?.[field];
  } catch {
    return '';
  }
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
}

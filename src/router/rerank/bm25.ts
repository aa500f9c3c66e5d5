// The built-in reranker: Okapi BM25 over the candidate texts themselves. There is no index: the
// corpus whose statistics BM25 needs (how many texts hold a term, the average length) is the rerank
// set the search pipeline hands over, so a score says how well a text matches the query compared
// with the other candidates, not with the whole collection.
// Formula: Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond" (2009),
// eq. 3.15 (https://www.staff.city.ac.uk/~sbrp622/papers/foundations_bm25_review.pdf); IDF as
// Lucene's BM25Similarity, which is never negative, unlike Robertson's for a term in most texts
// (https://lucene.apache.org/core/9_0_0/core/org/apache/lucene/search/similarities/BM25Similarity.html).
import { RerankError, RerankTimeoutError, type Reranker } from './reranker.ts';

export interface Bm25Options {
  /** Term-frequency saturation: how much a second, third … occurrence adds. */
  k1?: number;
  /** Length normalisation: 0 ignores a text's length, 1 scales fully by length / average length. */
  b?: number;
  /** Tokens kept per text (and of the query); the rest is not read, so a huge text costs no more than this. */
  maxTokensPerText?: number;
}

export const BM25_DEFAULTS = { k1: 1.2, b: 0.75, maxTokensPerText: 2048 } as const;

/**
 * How many UTF-16 code units tokenize() reads per token it may keep. Bounds the work on a text that
 * is mostly separators (or one endless token), which a token count alone does not; English prose
 * averages about six code units a token with its separator, so prose reaches the token limit first.
 */
const SCAN_UNITS_PER_TOKEN = 32;

// Marks (\p{M}) belong to the word they sit on: Devanagari vowel signs, the dot of a lower-cased İ.
const TOKEN = /[\p{L}\p{M}\p{N}]+/gu;

/**
 * The text's tokens: NFKC-normalised (so "ﬁ" is "fi" and full-width "１２" is "12"), lower-cased,
 * split on every code point that is neither a letter, a mark nor a number (\p{L}, \p{M}, \p{N}); empty tokens are
 * dropped. A run of CJK characters is one token, as it has no separators. At most maxTokens tokens
 * are kept, from at most maxTokens × 32 code units of the text.
 */
export function tokenize(text: string, maxTokens: number = Infinity): string[] {
  const scanUnits = maxTokens * SCAN_UNITS_PER_TOKEN;
  let prefix = text;
  let cut = false;
  if (text.length > scanUnits) {
    let end = scanUnits;
    // Not between the halves of a surrogate pair.
    const unit = text.charCodeAt(end - 1);
    if (unit >= 0xd800 && unit <= 0xdbff) end--;
    prefix = text.slice(0, end);
    cut = true;
  }
  const normalized = prefix.normalize('NFKC').toLowerCase();
  const tokens: string[] = [];
  for (const match of normalized.matchAll(TOKEN)) {
    if (tokens.length >= maxTokens) return tokens;
    // A token that runs into the cut may be the start of a longer word: it is not kept.
    if (cut && match.index + match[0].length === normalized.length) break;
    tokens.push(match[0]);
  }
  return tokens;
}

/**
 * BM25 score of each text for the query, in the texts' order, with the texts as the corpus:
 *   score(D) = Σ over the query's tokens t of IDF(t) × tf(t,D) × (k1 + 1) / (tf(t,D) + k1 × (1 − b + b × |D| / avgdl))
 *   IDF(t) = ln(1 + (N − n(t) + 0.5) / (n(t) + 0.5))
 * N is the number of texts, n(t) how many of them contain t, |D| a text's token count, avgdl the
 * mean of those. A query token repeated counts once per occurrence ("rabbit rabbit" weighs rabbit
 * twice), as a Lucene query with the term twice does. Lucene ≥ 8 leaves out the constant (k1 + 1),
 * which scales every score alike and changes no order. An empty query, or texts with no tokens, score 0.
 */
export function bm25Scores(query: string, texts: readonly string[], options: Bm25Options = {}): Float64Array {
  const { k1, b, maxTokensPerText } = { ...BM25_DEFAULTS, ...options };
  const scores = new Float64Array(texts.length);
  const queryTokens = tokenize(query, maxTokensPerText);
  if (queryTokens.length === 0 || texts.length === 0) return scores;
  const wanted = new Set(queryTokens);

  // Per text, the frequency of each query term (other terms only count towards the length).
  const frequencies: Map<string, number>[] = [];
  const lengths = new Float64Array(texts.length);
  const documentFrequency = new Map<string, number>();
  let totalLength = 0;
  for (let i = 0; i < texts.length; i++) {
    const tokens = tokenize(texts[i]!, maxTokensPerText);
    const tf = new Map<string, number>();
    for (const token of tokens) if (wanted.has(token)) tf.set(token, (tf.get(token) ?? 0) + 1);
    for (const term of tf.keys()) documentFrequency.set(term, (documentFrequency.get(term) ?? 0) + 1);
    frequencies.push(tf);
    lengths[i] = tokens.length;
    totalLength += tokens.length;
  }
  if (totalLength === 0) return scores;
  const averageLength = totalLength / texts.length;

  const n = texts.length;
  for (const term of queryTokens) {
    const df = documentFrequency.get(term);
    if (df === undefined) continue;
    const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
    for (let i = 0; i < n; i++) {
      const tf = frequencies[i]!.get(term);
      if (tf === undefined) continue;
      scores[i]! += (idf * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * lengths[i]!) / averageLength));
    }
  }
  return scores;
}

export class Bm25Reranker implements Reranker {
  readonly kind = 'bm25' as const;
  readonly #options: Required<Bm25Options>;

  constructor(options: Bm25Options = {}) {
    this.#options = { ...BM25_DEFAULTS, ...options };
  }

  /** Runs synchronously once started, within maxTokensPerText per text, so the signal is only checked first. */
  async score(query: string, texts: readonly string[], signal: AbortSignal): Promise<Float64Array> {
    if (signal.aborted) {
      const reason: unknown = signal.reason;
      if (reason instanceof Error && reason.name === 'TimeoutError') throw new RerankTimeoutError(0, { cause: reason });
      throw new RerankError('the rerank was cancelled before it began', { cause: reason });
    }
    return bm25Scores(query, texts, this.#options);
  }
}

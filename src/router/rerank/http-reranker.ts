// A cross-encoder reranking service over HTTP, in one of two request formats:
// - 'http': Hugging Face text-embeddings-inference's POST /rerank
//   (https://huggingface.github.io/text-embeddings-inference/#/Text%20Embeddings%20Inference/rerank):
//   {"query", "texts", "raw_scores": false, "truncate": true} → [{"index", "score"}, …] in any order,
//   possibly fewer entries than texts (a text left out scores -Infinity);
// - 'cohere': Cohere's rerank (https://docs.cohere.com/reference/rerank), which other servers copy:
//   {"query", "documents", "top_n"} → {"results": [{"index", "relevance_score"}, …]}.
// The service is another party's: every reply is checked before it is believed, and what it may
// cost is bounded (the bytes sent per text, the bytes read back). The caller's signal is the deadline.
import { Pool } from 'undici';
import { RerankError, RerankTimeoutError, type Reranker } from './reranker.ts';

export type HttpRerankerKind = 'http' | 'cohere';

export interface HttpRerankerOptions {
  /** The request format: text-embeddings-inference ('http', the default) or Cohere's ('cohere'). */
  kind?: HttpRerankerKind;
  /** Connections kept to the service at most (undici Pool `connections`); calls beyond them queue. */
  maxConnections?: number;
  /** How long an idle connection is kept open (undici `keepAliveTimeout`); below Node's server default of 5 s, so the client closes first. */
  keepAliveTimeoutMs?: number;
  /** Each text (and the query) is cut to at most this many UTF-8 bytes, at a code point boundary, before it is sent. */
  maxTextBytes?: number;
  /** A reply body longer than this is refused, and the rest of it is not read. */
  maxResponseBytes?: number;
}

export const HTTP_RERANKER_DEFAULTS = {
  kind: 'http',
  maxConnections: 8,
  keepAliveTimeoutMs: 4_000,
  maxTextBytes: 8192,
  maxResponseBytes: 1024 * 1024,
} as const satisfies Required<HttpRerankerOptions>;

/** The cause of a RerankError for a non-2xx reply: the status and the first 200 bytes of its body. */
export class HttpStatusError extends Error {
  constructor(readonly status: number, readonly body: string) {
    super(`HTTP ${status}: ${body}`);
    this.name = 'HttpStatusError';
  }
}

const ERROR_BODY_BYTES = 200;

interface Dialect {
  request(query: string, texts: string[]): unknown;
  /** The scored entries of a reply, or a string saying what is wrong with its shape. */
  entries(reply: unknown): { list: unknown[]; scoreField: string } | string;
}

const DIALECTS: Record<HttpRerankerKind, Dialect> = {
  http: {
    request: (query, texts) => ({ query, texts, raw_scores: false, truncate: true }),
    entries: (reply) => (Array.isArray(reply) ? { list: reply, scoreField: 'score' } : 'a reply that is not a JSON array'),
  },
  cohere: {
    request: (query, texts) => ({ query, documents: texts, top_n: texts.length }),
    entries: (reply) => {
      const results = isObject(reply) ? reply['results'] : undefined;
      return Array.isArray(results) ? { list: results, scoreField: 'relevance_score' } : 'a reply without a "results" array';
    },
  },
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One score per text from a reply's entries (-Infinity for a text it left out), or what is wrong with them. */
function scoresOf(list: unknown[], scoreField: string, count: number): Float64Array | string {
  const scores = new Float64Array(count).fill(-Infinity);
  const seen = new Uint8Array(count);
  for (let i = 0; i < list.length; i++) {
    const entry = list[i];
    if (!isObject(entry)) return `entry ${i} that is not an object`;
    const index = entry['index'];
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count) {
      return `entry ${i} whose index ${JSON.stringify(index)} is not one of the ${count} texts' (0 to ${count - 1})`;
    }
    if (seen[index] === 1) return `a second entry for index ${index}`;
    seen[index] = 1;
    const score = entry[scoreField];
    // JSON.parse reads 1e999 as Infinity: a finite number is required, not just a number.
    if (typeof score !== 'number' || !Number.isFinite(score)) {
      return `entry ${i} whose ${scoreField} ${typeof score === 'number' ? String(score) : JSON.stringify(score) ?? 'undefined'} is not a finite number`;
    }
    scores[index] = score;
  }
  return scores;
}

function isTimeout(reason: unknown): boolean {
  return reason instanceof Error && reason.name === 'TimeoutError';
}

interface Body extends AsyncIterable<Buffer> {
  destroy(): void;
}

/** The body's first `limit` bytes, counted as they arrive; past the limit the rest is not read (the connection is closed). */
async function readBounded(body: Body, limit: number, declaredBytes: number): Promise<{ bytes: Buffer; complete: boolean }> {
  if (declaredBytes > limit) {
    body.destroy();
    return { bytes: Buffer.alloc(0), complete: false };
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    if (total + chunk.length > limit) {
      chunks.push(chunk.subarray(0, limit - total));
      body.destroy();
      return { bytes: Buffer.concat(chunks), complete: false };
    }
    chunks.push(chunk);
    total += chunk.length;
  }
  return { bytes: Buffer.concat(chunks, total), complete: true };
}

const encoder = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class HttpReranker implements Reranker {
  readonly kind: HttpRerankerKind;
  readonly #url: string;
  readonly #path: string;
  readonly #pool: Pool;
  readonly #dialect: Dialect;
  readonly #maxResponseBytes: number;
  /** Where texts are encoded to be cut: encodeInto stops before a code point that does not fit, and reads no further. */
  readonly #scratch: Uint8Array;
  #closing: Promise<void> | null = null;

  /** url is the full endpoint, e.g. http://127.0.0.1:8080/rerank (http: or https:). */
  constructor(url: string, options: HttpRerankerOptions = {}) {
    const { kind, maxConnections, keepAliveTimeoutMs, maxTextBytes, maxResponseBytes } = { ...HTTP_RERANKER_DEFAULTS, ...options };
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (err) {
      throw new RerankError(`the reranker URL ${JSON.stringify(url)} is not a URL`, { cause: err });
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new RerankError(`the reranker URL ${JSON.stringify(url)} is not http: or https:`, { cause: new TypeError(`protocol ${parsed.protocol}`) });
    }
    if (parsed.username !== '' || parsed.password !== '') {
      // They would not be sent (the pool is given the origin), and would end up in messages and logs.
      throw new RerankError('the reranker URL has credentials in it, which are not sent', { cause: new TypeError('user info in the URL') });
    }
    this.kind = kind;
    this.#url = `${parsed.origin}${parsed.pathname}`;
    this.#path = `${parsed.pathname}${parsed.search}`;
    this.#dialect = DIALECTS[kind];
    this.#maxResponseBytes = maxResponseBytes;
    this.#scratch = new Uint8Array(maxTextBytes);
    // headersTimeout and bodyTimeout stay undici's (300 s): the caller's signal is the call's deadline,
    // and the seam does not say how long it is; these only end a call whose signal never aborts.
    this.#pool = new Pool(parsed.origin, { connections: maxConnections, keepAliveTimeout: keepAliveTimeoutMs });
  }

  async score(query: string, texts: readonly string[], signal: AbortSignal): Promise<Float64Array> {
    const startedMs = performance.now();
    if (signal.aborted) throw this.#aborted(signal, startedMs, signal.reason);
    if (texts.length === 0) return new Float64Array(0);
    try {
      const body = JSON.stringify(this.#dialect.request(this.#cut(query), texts.map((text) => this.#cut(text))));
      const response = await this.#pool.request({
        path: this.#path, method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body, signal,
      });
      const declared = Number(response.headers['content-length'] ?? 0);
      const reply = await readBounded(response.body, this.#maxResponseBytes, Number.isFinite(declared) ? declared : 0);
      if (response.statusCode < 200 || response.statusCode > 299) {
        const start = reply.bytes.subarray(0, ERROR_BODY_BYTES).toString('utf8');
        throw new RerankError(`the reranker at ${this.#url} answered ${response.statusCode}: ${start}`, { cause: new HttpStatusError(response.statusCode, start) });
      }
      if (!reply.complete) {
        throw this.#bad(`a reply longer than ${this.#maxResponseBytes} bytes (maxResponseBytes)`, new RangeError(`more than ${this.#maxResponseBytes} bytes`));
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(utf8.decode(reply.bytes));
      } catch (err) {
        throw this.#bad('a reply that is not UTF-8 JSON', err);
      }
      const entries = this.#dialect.entries(parsed);
      if (typeof entries === 'string') throw this.#bad(entries, new TypeError(entries));
      const scores = scoresOf(entries.list, entries.scoreField, texts.length);
      if (typeof scores === 'string') throw this.#bad(scores, new TypeError(scores));
      return scores;
    } catch (err) {
      if (err instanceof RerankError) throw err;
      if (signal.aborted) throw this.#aborted(signal, startedMs, err);
      throw new RerankError(`the call to the reranker at ${this.#url} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** Closes the connections once the calls in flight have ended (their signals bound how long that is). */
  close(): Promise<void> {
    this.#closing ??= this.#pool.close();
    return this.#closing;
  }

  /** The text cut to maxTextBytes of UTF-8, between code points. */
  #cut(text: string): string {
    const { read } = encoder.encodeInto(text, this.#scratch);
    return read === text.length ? text : text.slice(0, read);
  }

  #bad(what: string, cause: unknown): RerankError {
    return new RerankError(`the reranker at ${this.#url} answered with ${what}`, { cause });
  }

  /** A deadline (the signal's reason a TimeoutError, as AbortSignal.timeout's) or another cancellation. */
  #aborted(signal: AbortSignal, startedMs: number, cause: unknown): RerankError {
    if (isTimeout(signal.reason)) return new RerankTimeoutError(Math.round(performance.now() - startedMs), { cause });
    return new RerankError(`the call to the reranker at ${this.#url} was cancelled`, { cause });
  }
}

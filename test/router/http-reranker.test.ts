// HttpReranker (src/router/rerank/http-reranker.ts) against a real node:http server in this process:
// both request formats, every way a reply can be wrong, the byte limits both ways, the deadline, and
// connection reuse.
import { strict as assert } from 'node:assert';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { HttpReranker, HttpStatusError, type HttpRerankerOptions } from '../../src/router/rerank/http-reranker.ts';
import { RerankError, RerankTimeoutError } from '../../src/router/rerank/reranker.ts';

type Handler = (body: Buffer, req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let base: string;
let handler: Handler;
const bodies: Buffer[] = [];

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      bodies.push(body);
      handler(body, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => { bodies.length = 0; });

const rerankers: HttpReranker[] = [];
after(async () => { await Promise.all(rerankers.map((r) => r.close())); });
function reranker(path: string, options: HttpRerankerOptions = {}): HttpReranker {
  const made = new HttpReranker(`${base}${path}`, options);
  rerankers.push(made);
  return made;
}

const live = (): AbortSignal => AbortSignal.timeout(10_000);
const json = (value: unknown): Handler => (_body, _req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(value));
};
const lastRequest = (): Record<string, unknown> => JSON.parse(bodies.at(-1)!.toString('utf8')) as Record<string, unknown>;

/** Rejects with a `type` (RerankError unless said) whose message matches and that has a cause. */
async function rejectsWith(promise: Promise<unknown>, message: RegExp, type: abstract new (...args: never[]) => RerankError = RerankError): Promise<RerankError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => { caught = err; return true; });
  assert.ok(caught instanceof type, `not a ${type.name}: ${String(caught)}`);
  assert.match(caught.message, message);
  assert.ok(caught.cause !== undefined, 'no cause');
  return caught;
}

describe('request formats', () => {
  test('text-embeddings-inference: sends query, texts, raw_scores false, truncate true; maps entries in any order by index', async () => {
    handler = json([{ index: 2, score: 0.9 }, { index: 0, score: 0.1 }, { index: 1, score: 0.5 }]);
    const r = reranker('/rerank');
    assert.equal(r.kind, 'http');
    const scores = await r.score('white rabbit', ['a', 'b', 'c'], live());
    assert.ok(scores instanceof Float64Array);
    assert.deepEqual([...scores], [0.1, 0.5, 0.9]);
    assert.deepEqual(lastRequest(), { query: 'white rabbit', texts: ['a', 'b', 'c'], raw_scores: false, truncate: true });
  });

  test('cohere: sends query, documents, top_n; reads results[].relevance_score', async () => {
    handler = json({ id: 'x', results: [{ index: 1, relevance_score: 0.8 }, { index: 0, relevance_score: 0.3 }], meta: {} });
    const r = reranker('/v2/rerank?model=m', { kind: 'cohere' });
    assert.equal(r.kind, 'cohere');
    assert.deepEqual([...await r.score('q', ['a', 'b'], live())], [0.3, 0.8]);
    assert.deepEqual(lastRequest(), { query: 'q', documents: ['a', 'b'], top_n: 2 });
  });

  test('posts JSON to the URL\'s path and query', async () => {
    let seen = '';
    handler = (_body, req, res) => { seen = `${req.method} ${req.url} ${req.headers['content-type']}`; json([])(_body, req, res); };
    await reranker('/v1/rerank?x=1').score('q', ['a'], live());
    assert.equal(seen, 'POST /v1/rerank?x=1 application/json');
  });

  test('a text the reply leaves out scores -Infinity', async () => {
    handler = json([{ index: 1, score: 0.7 }]);
    assert.deepEqual([...await reranker('/rerank').score('q', ['a', 'b', 'c'], live())], [-Infinity, 0.7, -Infinity]);
  });

  test('only http: and https: URLs, without credentials', () => {
    assert.throws(() => new HttpReranker('ftp://127.0.0.1/rerank'), RerankError);
    assert.throws(() => new HttpReranker('not a url'), RerankError);
    assert.throws(() => new HttpReranker('http://user:secret@127.0.0.1/rerank'), RerankError);
  });
});

describe('replies that are refused', () => {
  test('a non-2xx status: the status and the first 200 bytes of the body', async () => {
    handler = (_body, _req, res) => { res.writeHead(500).end(`overloaded ${'x'.repeat(500)}`); };
    const err = await rejectsWith(reranker('/rerank').score('q', ['a'], live()), /answered 500: overloaded x+$/);
    assert.ok(err.cause instanceof HttpStatusError);
    assert.equal(err.cause.status, 500);
    assert.equal(Buffer.byteLength(err.cause.body), 200);
  });

  const wrong: [string, unknown, RegExp][] = [
    ['an object where an array is expected', { results: [] }, /not a JSON array/],
    ['an entry that is not an object', [1], /entry 0 that is not an object/],
    ['an index past the texts', [{ index: 2, score: 1 }], /index 2 is not one of the 2 texts/],
    ['a negative index', [{ index: -1, score: 1 }], /index -1/],
    ['a fractional index', [{ index: 0.5, score: 1 }], /index 0.5/],
    ['an index given as a string', [{ index: '0', score: 1 }], /index "0"/],
    ['the same index twice', [{ index: 0, score: 1 }, { index: 0, score: 2 }], /second entry for index 0/],
    ['a missing score', [{ index: 0 }], /score undefined is not a finite number/],
    ['a score that is a string', [{ index: 0, score: '1' }], /score "1" is not a finite number/],
  ];
  for (const [what, reply, message] of wrong) {
    test(`wrong shape: ${what}`, async () => {
      handler = json(reply);
      await rejectsWith(reranker('/rerank').score('q', ['a', 'b'], live()), message);
    });
  }

  test('a score JSON.parse reads as Infinity (1e999)', async () => {
    handler = (_body, _req, res) => { res.writeHead(200).end('[{"index": 0, "score": 1e999}]'); };
    await rejectsWith(reranker('/rerank').score('q', ['a'], live()), /score Infinity is not a finite number/);
  });

  test('cohere without results', async () => {
    handler = json([{ index: 0, relevance_score: 1 }]);
    await rejectsWith(reranker('/rerank', { kind: 'cohere' }).score('q', ['a'], live()), /without a "results" array/);
  });

  test('invalid JSON, with the parse error as cause', async () => {
    handler = (_body, _req, res) => { res.writeHead(200).end('[{"index": 0,'); };
    const err = await rejectsWith(reranker('/rerank').score('q', ['a'], live()), /not UTF-8 JSON/);
    assert.ok(err.cause instanceof SyntaxError);
  });

  test('a connection refused', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const r = new HttpReranker(`http://127.0.0.1:${port}/rerank`);
    try {
      await rejectsWith(r.score('q', ['a'], live()), /failed: .*ECONNREFUSED/);
    } finally {
      await r.close();
    }
  });
});

describe('limits', () => {
  test('a reply streamed without end is refused past maxResponseBytes, and the server sees the client go', async () => {
    let wrote = 0;
    let clientLeft: Promise<void> = Promise.resolve();
    handler = (_body, _req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      clientLeft = new Promise((resolve) => res.on('close', resolve));
      const pump = (): void => {
        while (!res.destroyed) {
          wrote += chunk.length;
          if (!res.write(chunk)) break;
        }
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    };
    await rejectsWith(reranker('/rerank', { maxResponseBytes: 1024 * 1024 }).score('q', ['a'], live()), /longer than 1048576 bytes/);
    await clientLeft;
    assert.ok(wrote > 1024 * 1024, 'the server wrote past the limit before the client left');
  });

  test('a reply whose content-length says 2 MiB is refused before its body is read', async () => {
    let clientLeft: Promise<void> = Promise.resolve();
    handler = (_body, _req, res) => {
      clientLeft = new Promise((resolve) => res.on('close', resolve));
      res.writeHead(200, { 'content-length': String(2 * 1024 * 1024) });
      res.write('[');
    };
    await rejectsWith(reranker('/rerank').score('q', ['a'], live()), /longer than 1048576 bytes/);
    await clientLeft;
  });

  test('a text of 20,000 bytes arrives cut to at most maxTextBytes, between code points (valid UTF-8)', async () => {
    handler = json([{ index: 0, score: 1 }, { index: 1, score: 1 }]);
    // 3-byte and 4-byte characters, so 8192 falls inside one of them.
    const long = '€😀'.repeat(20_000 / 7 + 1);
    assert.ok(Buffer.byteLength(long) >= 20_000);
    await reranker('/rerank').score(long, [long, 'short'], live());
    const body = bodies.at(-1)!;
    new TextDecoder('utf-8', { fatal: true }).decode(body);
    const sent = lastRequest() as { query: string; texts: string[] };
    for (const text of [sent.query, sent.texts[0]!]) {
      const bytes = Buffer.byteLength(text);
      assert.ok(bytes <= 8192 && bytes > 8192 - 4, `${bytes} bytes`);
      assert.ok(long.startsWith(text), 'a prefix of the text');
      assert.ok(!/[\ud800-\udfff]/u.test(text), 'no half of a surrogate pair');
    }
    assert.equal(sent.texts[1], 'short');
  });
});

describe('deadline and connections', () => {
  test('a server that never answers is given up on when the signal aborts: RerankTimeoutError', async () => {
    handler = () => {};
    const err = await rejectsWith(reranker('/rerank').score('q', ['a'], AbortSignal.timeout(100)), /did not answer within/, RerankTimeoutError);
    assert.equal((err.cause as Error).name, 'TimeoutError');
  });

  test('a signal aborted for another reason, mid-call, is a RerankError, not a timeout', async () => {
    handler = () => {};
    const controller = new AbortController();
    const call = reranker('/rerank').score('q', ['a'], controller.signal);
    setImmediate(() => controller.abort(new Error('shutting down')));
    const err = await rejectsWith(call, /was cancelled/);
    assert.ok(!(err instanceof RerankTimeoutError));
  });

  test('a deadline while the body streams in is a RerankTimeoutError', async () => {
    handler = (_body, _req, res) => { res.writeHead(200).write('[{"index": 0,'); };
    await rejectsWith(reranker('/rerank').score('q', ['a'], AbortSignal.timeout(100)), /did not answer within/, RerankTimeoutError);
  });

  // These count connections on a server of their own: undici opens one after an aborted call, with
  // nothing to send on it (nodejs/undici#5845), so the shared server sees the earlier tests' ones late.
  async function countingServer(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
    let count = 0;
    const own = createServer((req, res) => { req.resume(); req.on('end', () => json([{ index: 0, score: 1 }])(Buffer.alloc(0), req, res)); });
    own.on('connection', () => { count++; });
    await new Promise<void>((resolve) => own.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(own.address() as AddressInfo).port}/rerank`,
      connections: () => count,
      close: async () => { own.closeAllConnections(); await new Promise((resolve) => own.close(resolve)); },
    };
  }

  // undici lets a kept-alive socket rest before it sends on it again: a setImmediate ("wait a full
  // event loop cycle", lib/dispatcher/client-h1.js), then another to read any FIN the server sent
  // meanwhile (scheduleIdleSocketValidation). A call made before then takes another of the pool's connections.
  test('five calls one after another (a few loop turns apart, as separate searches are) use one connection', async () => {
    const own = await countingServer();
    const r = new HttpReranker(own.url);
    try {
      for (let i = 0; i < 5; i++) {
        assert.deepEqual([...await r.score('q', ['a'], live())], [1]);
        for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(own.connections(), 1);
    } finally {
      await r.close();
      await own.close();
    }
  });

  test('five calls back to back, with no turn between them, reuse connections too', async () => {
    const own = await countingServer();
    const r = new HttpReranker(own.url);
    try {
      for (let i = 0; i < 5; i++) assert.deepEqual([...await r.score('q', ['a'], live())], [1]);
      assert.ok(own.connections() <= 2, `${own.connections()} connections`);
    } finally {
      await r.close();
      await own.close();
    }
  });

  test('no texts: no request; after close, calls fail with a RerankError', async () => {
    const r = new HttpReranker(`${base}/rerank`);
    assert.deepEqual(await r.score('q', [], live()), new Float64Array(0));
    assert.equal(bodies.length, 0);
    await r.close();
    await r.close();
    await rejectsWith(r.score('q', ['a'], live()), /failed/);
  });
});

// The contract every Reranker keeps (src/router/rerank/reranker.ts), run against each implementation:
// the built-in BM25 scorer, and HttpReranker in both request formats against a real node:http
// server here that scores by a rule the cells can check (a text's score is how many of the query's
// distinct tokens it contains, tokens as bm25.ts's tokenize makes them).
import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Bm25Reranker, tokenize } from '../../src/router/rerank/bm25.ts';
import { HttpReranker, type HttpRerankerKind } from '../../src/router/rerank/http-reranker.ts';
import { RerankError, RerankTimeoutError, type Reranker } from '../../src/router/rerank/reranker.ts';

interface RerankerUnderTest {
  reranker: Reranker;
  /** Requests the reranker has sent to a service so far (0 for one that has none). */
  requests(): number;
  /** Stops the reranker and whatever the factory started for it. */
  close(): Promise<void>;
}

const QUERY = 'White rabbit';
const NONE = 'The Queen of Hearts shouted at the cook';
const ALL = 'The White Rabbit hurried past the Queen';
const SOME = 'A white cat slept by the fire today';

const live = (): AbortSignal => AbortSignal.timeout(10_000);

function rerankerContract(name: string, factory: () => Promise<RerankerUnderTest>): void {
  describe(`Reranker contract (${name})`, () => {
    let under: RerankerUnderTest;
    before(async () => { under = await factory(); });
    after(async () => { await under.close(); });

    test('one score per text, in the texts\' order, each finite or -Infinity', async () => {
      const texts = [NONE, ALL, SOME];
      const scores = await under.reranker.score(QUERY, texts, live());
      assert.ok(scores instanceof Float64Array);
      assert.equal(scores.length, texts.length);
      for (const s of scores) assert.ok(Number.isFinite(s) || s === -Infinity, String(s));
      const reversed = await under.reranker.score(QUERY, [...texts].reverse(), live());
      assert.deepEqual([...reversed], [...scores].reverse(), 'a text keeps its score wherever it is in the list');
    });

    test('a text with every query word outranks one with some, which outranks one with none', async () => {
      const [none, all, some] = await under.reranker.score(QUERY, [NONE, ALL, SOME], live());
      assert.ok(all! > some! && some! > none!, `all ${all}, some ${some}, none ${none}`);
    });

    test('one text, and the same text twice, score alike', async () => {
      const [a, b] = await under.reranker.score(QUERY, [ALL, ALL], live());
      assert.equal(a, b);
      assert.equal((await under.reranker.score(QUERY, [ALL], live())).length, 1);
    });

    test('no texts: an empty array, and no request', async () => {
      const sent = under.requests();
      const scores = await under.reranker.score(QUERY, [], live());
      assert.ok(scores instanceof Float64Array);
      assert.equal(scores.length, 0);
      assert.equal(under.requests(), sent);
    });

    test('an already-aborted signal rejects with a RerankError (a RerankTimeoutError for a deadline), and sends nothing', async () => {
      const sent = under.requests();
      const cancelled = new Error('the client went away');
      await assert.rejects(under.reranker.score(QUERY, [ALL, NONE], AbortSignal.abort(cancelled)), (err: unknown) =>
        err instanceof RerankError && !(err instanceof RerankTimeoutError) && err.cause === cancelled);
      const deadline = new DOMException('the deadline passed', 'TimeoutError');
      await assert.rejects(under.reranker.score(QUERY, [ALL, NONE], AbortSignal.abort(deadline)), (err: unknown) =>
        err instanceof RerankTimeoutError && err.cause === deadline);
      assert.equal(under.requests(), sent);
    });
  });
}

/** The score the test server gives: how many of the query's distinct tokens the text contains. */
function ruleScore(query: string, text: string): number {
  const words = new Set(tokenize(text));
  return [...new Set(tokenize(query))].filter((t) => words.has(t)).length;
}

/** A rerank service in the given format, answering best first as both services do. */
async function scoringServer(kind: HttpRerankerKind): Promise<{ server: Server; url: string; requests: () => number }> {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { query: string; texts?: string[]; documents?: string[] };
      const texts = (kind === 'http' ? body.texts : body.documents) ?? [];
      const ranked = texts.map((text, index) => ({ index, score: ruleScore(body.query, text) })).sort((a, b) => b.score - a.score || a.index - b.index);
      const reply = kind === 'http' ? ranked : { results: ranked.map(({ index, score }) => ({ index, relevance_score: score })) };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/rerank`, requests: () => requests };
}

rerankerContract('bm25', async () => ({ reranker: new Bm25Reranker(), requests: () => 0, close: async () => {} }));

for (const kind of ['http', 'cohere'] as const) {
  rerankerContract(`${kind} over HTTP`, async () => {
    const { server, url, requests } = await scoringServer(kind);
    const reranker = new HttpReranker(url, { kind });
    return {
      reranker,
      requests,
      async close() {
        await reranker.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  });
}

test('the test server scores by its rule, so the HTTP cells check the mapping of its replies', () => {
  assert.deepEqual([NONE, ALL, SOME].map((text) => ruleScore(QUERY, text)), [0, 2, 1]);
});

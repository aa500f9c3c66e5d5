// A real HTTP reranker in the test process, speaking text-embeddings-inference's /rerank format
// (POST {query, texts} → [{index, score}]). It scores by a rule a test can check — the number of
// distinct query words a text contains — and can be told to answer late, fail, or hold every reply
// until released; it records what it was sent.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tokenize } from '../../src/router/rerank/bm25.ts';

export interface RerankRequest { query: string; texts: string[] }

export interface RerankServer {
  url: string;
  /** host:port, for rerankerAllowedHosts. */
  host: string;
  requests: RerankRequest[];
  /** 'ok': answer by the rule; 'slow': answer after delayMs; 'fail': 500. */
  mode: 'ok' | 'slow' | 'fail';
  delayMs: number;
  /** While set, replies wait until release() (requests are still recorded as they arrive). */
  hold: boolean;
  release(): void;
  stop(): Promise<void>;
}

/** The rule the server scores by: distinct query words the text contains. */
export function wordsShared(query: string, text: string): number {
  const words = new Set(tokenize(text));
  return [...new Set(tokenize(query))].filter((word) => words.has(word)).length;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startRerankServer(): Promise<RerankServer> {
  let waiting: (() => void)[] = [];
  const server: Server = createServer(async (req, res) => {
    const request = JSON.parse(await body(req)) as RerankRequest;
    state.requests.push(request);
    if (state.hold) await new Promise<void>((resolve) => waiting.push(resolve));
    if (state.mode === 'fail') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('model not loaded');
      return;
    }
    if (state.mode === 'slow') await new Promise((resolve) => setTimeout(resolve, state.delayMs));
    if (res.destroyed) return;
    const scores = request.texts.map((text, index) => ({ index, score: wordsShared(request.query, text) }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(scores.reverse()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const state: RerankServer = {
    url: `http://127.0.0.1:${port}/rerank`, host: `127.0.0.1:${port}`, requests: [], mode: 'ok', delayMs: 0, hold: false,
    release() {
      state.hold = false;
      const released = waiting;
      waiting = [];
      for (const resolve of released) resolve();
    },
    async stop() {
      state.release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return state;
}

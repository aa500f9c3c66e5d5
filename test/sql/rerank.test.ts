// Reranking through the proxy (issue 12) on gutenberg-sentences (6,063 sentences with their glove
// vectors): a real HTTP reranker in this process (test/helpers/rerank-server.ts, scoring by a rule
// the test recomputes) and the built-in BM25 reorder the vector top-N exactly as their scores say;
// the top-N is cut after the merge; no query text, no rerank and no over-fetch; short query texts get
// a smaller top-N; a slow reranker times out and a failing one opens its circuit, and either way the
// search answers in vector order, within the statement's time, saying why (NOTICE, EXPLAIN ANALYZE);
// reranker_url is only for allowed hosts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { bm25Scores } from '../../src/router/rerank/bm25.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { startRerankServer, wordsShared, type RerankServer } from '../helpers/rerank-server.ts';
import { DATA_DIR, readFvecs, row } from '../engine/helpers/data.ts';

const DATA = join(DATA_DIR, 'gutenberg-sentences-glove100');
const base = readFvecs(join(DATA, 'base.fvecs'));
const queries = readFvecs(join(DATA, 'query.fvecs'));
const texts = readFileSync(join(DATA, 'texts.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { text: string; book: string });
const queryTexts = readFileSync(join(DATA, 'query_texts.jsonl'), 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { text: string }).text);
const CIRCUIT_FAILURES = 3;

let stack: Stack;
let client: pg.Client;
let server: RerankServer;
let slow: RerankServer;
let failing: RerankServer;

before(async () => {
  server = await startRerankServer();
  slow = await startRerankServer();
  slow.mode = 'slow';
  slow.delayMs = 5_000;
  failing = await startRerankServer();
  failing.mode = 'fail';
  stack = await startStack({ config: { rerankerAllowedHosts: '127.0.0.1', rerankCircuitFailures: CIRCUIT_FAILURES, rerankCircuitOpenMs: 10 * 60_000 } });
  await stack.app.createCollection({ name: 'books', dims: 100, metric: 'cosine', owner: ROLES.scram.user });
  for (let from = 0; from < base.count; from += 2000) {
    const rows = Array.from({ length: Math.min(2000, base.count - from) }, (_, j) => ({
      id: String(from + j), vector: row(base, from + j), payload: JSON.stringify({ text: texts[from + j]!.text, book: texts[from + j]!.book }),
    }));
    await stack.app.upsert('books', rows);
  }
  client = await connect();
});
after(async () => {
  await client?.end();
  await stack?.stop();
  await server?.stop();
  await slow?.stop();
  await failing?.stop();
});

async function connect(): Promise<pg.Client> {
  const c = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await c.connect();
  return c;
}

const vectorText = (q: number) => `[${Array.from(row(queries, q)).join(',')}]`;

/** ids of a search for query q; queryText undefined: the argument is left out. */
async function search(c: pg.Client, q: number, k: number, queryText?: string | null): Promise<string[]> {
  const sql = queryText === undefined
    ? `SELECT id FROM vector_search('books', $1, ${k})`
    : `SELECT id FROM vector_search('books', $1, ${k}, query_text => $2)`;
  const result = await c.query(sql, queryText === undefined ? [vectorText(q)] : [vectorText(q), queryText]);
  return result.rows.map((r) => r.id as string);
}

async function settings(c: pg.Client, values: Record<string, string | number>): Promise<void> {
  for (const [name, value] of Object.entries(values)) await c.query(`SET vectorgate.${name} = '${value}'`);
}

/** The candidates in vector order, reordered by score (higher first, ties in vector order), cut to k. */
function byScore(candidates: string[], scores: ArrayLike<number>, k: number): string[] {
  return candidates.map((id, i) => ({ id, i, s: scores[i]! })).sort((a, b) => b.s - a.s || a.i - b.i).slice(0, k).map((c) => c.id);
}

const textOf = (id: string) => texts[Number(id)]!.text;

async function plan(c: pg.Client, sql: string, params: unknown[] = []): Promise<string> {
  return (await c.query(sql, params)).rows.map((r) => r['QUERY PLAN'] as string).join('\n');
}

test('http reranker: the merged vector top-N goes to the service, and the answer is its order cut to k', async () => {
  await settings(client, { rerank: 'on', reranker: 'http', reranker_url: server.url, rerank_top_n: 20, search_cache: 'off', rerank_timeout_ms: 10_000 });
  for (let q = 0; q < 5; q++) {
    const candidates = await search(client, q, 20);
    const before = server.requests.length;
    const reranked = await search(client, q, 10, queryTexts[q]);
    assert.equal(server.requests.length, before + 1, 'one reranker call per search');
    const sent = server.requests.at(-1)!;
    assert.equal(sent.query, queryTexts[q]);
    assert.deepEqual(sent.texts, candidates.map(textOf), 'the vector top-20 after the merge, in vector order');
    assert.deepEqual(reranked, byScore(candidates, candidates.map((id) => wordsShared(queryTexts[q]!, textOf(id))), 10));
  }
});

test('bm25 reranker: no service; the vector top-N reordered by BM25 over the candidates', async () => {
  await settings(client, { rerank: 'on', reranker: 'bm25', rerank_top_n: 30, search_cache: 'off' });
  const calls = server.requests.length;
  let moved = 0;
  for (let q = 0; q < 5; q++) {
    const candidates = await search(client, q, 30);
    const reranked = await search(client, q, 10, queryTexts[q]);
    const expected = byScore(candidates, bm25Scores(queryTexts[q]!, candidates.map(textOf)), 10);
    assert.deepEqual(reranked, expected);
    if (reranked.join() !== candidates.slice(0, 10).join()) moved++;
  }
  assert.ok(moved > 0, 'BM25 changed the order of at least one answer');
  assert.equal(server.requests.length, calls, 'bm25 calls no service');
});

test('no query text, no rerank: the shards are asked for k, the service is not called', async () => {
  await settings(client, { rerank: 'on', reranker: 'http', reranker_url: server.url, rerank_top_n: 40, search_cache: 'off' });
  const calls = server.requests.length;
  const plain = await search(client, 1, 10);
  assert.deepEqual(await search(client, 1, 10, ''), plain);
  assert.deepEqual(await search(client, 1, 10, null), plain);
  assert.deepEqual(await search(client, 1, 10, '  ,;  '), plain, 'a text without a word is no text');
  assert.equal(server.requests.length, calls);
  const explained = await plan(client, `EXPLAIN SELECT * FROM vector_search('books', $1, 10)`.replace('$1', `'${vectorText(1)}'`));
  assert.match(explained, /Shards: 1 asked in parallel, top 10 each\n/);
  assert.match(explained, /Rerank: on \(from SET\), skipped: no query text; shards asked for k/);
  const reranked = await plan(client, `EXPLAIN SELECT * FROM vector_search('books', '${vectorText(1)}', 10, query_text => '${queryTexts[1]!.replaceAll("'", "''")}')`);
  assert.match(reranked, /top 40 each \(the rerank candidates\)/);
});

test('short query texts hand fewer candidates to the reranker (docs/reranking.md)', async () => {
  await settings(client, { rerank: 'on', reranker: 'http', reranker_url: server.url, rerank_top_n: 30, search_cache: 'off' });
  const sentCount = async (queryText: string) => {
    await search(client, 2, 5, queryText);
    return server.requests.at(-1)!.texts.length;
  };
  assert.equal(await sentCount('rabbit'), 10, 'one word: ceil(30 × 1/3)');
  assert.equal(await sentCount('white rabbit'), 20, 'two words: ceil(30 × 2/3)');
  assert.equal(await sentCount('the white rabbit ran'), 30, 'three words or more: all 30');
});

test('a slow reranker times out: vector order, within the statement time, with a NOTICE and EXPLAIN saying so', async () => {
  await settings(client, { rerank: 'on', reranker: 'http', reranker_url: slow.url, rerank_top_n: 20, search_cache: 'off', rerank_timeout_ms: 100, rerank_notice: 'on' });
  const notices: string[] = [];
  const onNotice = (n: { message?: string }) => notices.push(n.message ?? '');
  client.on('notice', onNotice);
  try {
    assert.deepEqual(await search(client, 3, 10, queryTexts[3]), await search(client, 3, 10));
    assert.deepEqual(notices, ['vector_search on "books": the rerank fell back to vector order (timeout after 100 ms)']);
    // The statement's own limit is shorter than the rerank's: the rerank gives up first, no 57014.
    await settings(client, { rerank_timeout_ms: 30_000, statement_timeout: 1_000 });
    assert.deepEqual(await search(client, 3, 10, queryTexts[3]), await search(client, 3, 10));
    assert.match(notices.at(-1)!, /fell back to vector order \(timeout after \d+ ms\)/);
    await settings(client, { rerank_timeout_ms: 80, statement_timeout: 0 });
    const explained = await plan(client, `EXPLAIN ANALYZE SELECT * FROM vector_search('books', '${vectorText(3)}', 10, query_text => 'rabbit watch')`);
    assert.match(explained, new RegExp(`-> Rerank: http at ${slow.url.replaceAll('.', '\\.')} by payload field "text", top 14 candidates, timeout 80 ms  \\(actual time=`));
    assert.match(explained, /fell back: timeout after 80 ms; returned the top 10 in vector order/);
    assert.equal(slow.requests.length, 3, 'each timed-out call reached the service');
  } finally {
    client.off('notice', onNotice);
    await settings(client, { rerank_notice: 'off', rerank_timeout_ms: 10_000, reranker_url: server.url });
  }
  const explained = await plan(client, `EXPLAIN ANALYZE SELECT * FROM vector_search('books', '${vectorText(3)}', 10, query_text => 'rabbit watch')`);
  assert.match(explained, /reranked 14 candidates; returned the top 10 by reranker score/);
});

test('a failing reranker falls back each time, and after repeated failures its circuit opens: no more calls', async () => {
  await settings(client, { rerank: 'on', reranker: 'http', reranker_url: failing.url, rerank_top_n: 20, search_cache: 'off', rerank_timeout_ms: 5_000 });
  const fallbacksBefore = await fallbacks();
  const vectorOrder = await search(client, 4, 10);
  for (let i = 0; i < CIRCUIT_FAILURES; i++) assert.deepEqual(await search(client, 4, 10, queryTexts[4]), vectorOrder);
  assert.equal(failing.requests.length, CIRCUIT_FAILURES);
  const explained = await plan(client, `EXPLAIN ANALYZE SELECT * FROM vector_search('books', '${vectorText(4)}', 10, query_text => 'rabbit watch')`);
  assert.match(explained, /fell back: circuit open \(the circuit to http:\/\/127\.0\.0\.1:\d+\/rerank is open after repeated failures; next try in \d+ ms\)/);
  assert.deepEqual(await search(client, 4, 10, queryTexts[4]), vectorOrder);
  assert.equal(failing.requests.length, CIRCUIT_FAILURES, 'an open circuit calls nothing');
  const fallbacksAfter = await fallbacks();
  assert.equal(fallbacksAfter.error - fallbacksBefore.error, CIRCUIT_FAILURES);
  assert.equal(fallbacksAfter.circuit_open - fallbacksBefore.circuit_open, 2);
});

/** vectorgate_rerank_fallbacks_total of the http reranker by cause, as the proxy's /metrics says. */
async function fallbacks(): Promise<Record<'error' | 'circuit_open' | 'timeout', number>> {
  const text = await stack.proxy.metrics.registry.metrics();
  const of = (cause: string) => Number(new RegExp(`vectorgate_rerank_fallbacks_total\\{reranker="http",cause="${cause}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  return { error: of('error'), circuit_open: of('circuit_open'), timeout: of('timeout') };
}

test('reranker_url must name an allowed host (22023), set by SET or by vector_set_policy; the session goes on', async () => {
  for (const sql of [`SET vectorgate.reranker_url = 'http://10.1.2.3/rerank'`, `SELECT vector_set_policy('books', 'reranker_url', 'http://metadata.internal/rerank')`,
    `SET vectorgate.reranker_url = 'file:///etc/passwd'`, `SET vectorgate.reranker_url = 'http://user:pw@127.0.0.1/rerank'`]) {
    await assert.rejects(client.query(sql), (err: { code?: string; message: string }) => {
      assert.equal(err.code, '22023', sql);
      assert.match(err.message, /invalid value for (policy reranker_url|parameter "vectorgate.reranker_url")/);
      return true;
    });
  }
  assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
});

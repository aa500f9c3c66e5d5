// The search cache, coalescing and warmup through the proxy (issue 12), on gutenberg-sentences with a
// real HTTP reranker in this process: cached and uncached answers are identical; a write makes the
// collection's entries unreachable at once; identical searches in flight share one execution (one
// reranker call) and each gets the answer; session and linearizable reads never use the cache; after
// a write the frequent searches are warmed again in the background, rerank included.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { startRerankServer, type RerankServer } from '../helpers/rerank-server.ts';
import { DATA_DIR, readFvecs, row } from '../engine/helpers/data.ts';

const DATA = join(DATA_DIR, 'gutenberg-sentences-glove100');
const ROWS = 2000;
const base = readFvecs(join(DATA, 'base.fvecs'), ROWS);
const queries = readFvecs(join(DATA, 'query.fvecs'), 20);
const texts = readFileSync(join(DATA, 'texts.jsonl'), 'utf8').trim().split('\n').slice(0, ROWS).map((line) => (JSON.parse(line) as { text: string }).text);
const queryTexts = readFileSync(join(DATA, 'query_texts.jsonl'), 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { text: string }).text);

let stack: Stack;
let server: RerankServer;
const clients: pg.Client[] = [];

before(async () => {
  server = await startRerankServer();
  stack = await startStack({ config: { rerankerAllowedHosts: server.host, warmupDelayMs: 50 } });
  await stack.app.createCollection({ name: 'lines', dims: 100, metric: 'cosine', owner: ROLES.scram.user });
  await stack.app.upsert('lines', Array.from({ length: ROWS }, (_, i) => ({ id: String(i), vector: row(base, i), payload: JSON.stringify({ text: texts[i] }) })));
  await stack.app.setPolicy('lines', 'reranker', 'http');
  await stack.app.setPolicy('lines', 'reranker_url', server.url);
  await stack.app.setPolicy('lines', 'rerank_timeout_ms', '30000');
  for (let i = 0; i < 6; i++) clients.push(await connect());
});
after(async () => {
  await Promise.all(clients.map((c) => c.end()));
  await stack?.stop();
  await server?.stop();
});

async function connect(): Promise<pg.Client> {
  const c = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await c.connect();
  return c;
}

const vectorText = (q: number) => `[${Array.from(row(queries, q)).join(',')}]`;
const stats = () => stack.collections.searchStats();

async function search(c: pg.Client, q: number, options: { queryText?: string; consistency?: string } = {}): Promise<unknown[]> {
  const args = [`'lines'`, '$1', '10'];
  const params: unknown[] = [vectorText(q)];
  if (options.queryText !== undefined) { params.push(options.queryText); args.push(`query_text => $${params.length}`); }
  if (options.consistency !== undefined) { params.push(options.consistency); args.push(`read_consistency => $${params.length}`); }
  return (await c.query(`SELECT id, distance, payload FROM vector_search(${args.join(', ')})`, params)).rows;
}

/** Waits (bounded) until check() holds; the waits here are for background work, not timing assertions. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(check(), what);
}

test('a cached answer is the uncached answer; a repeat is a hit; a write makes it unreachable at once', async () => {
  const [c] = clients;
  await c!.query(`SET vectorgate.search_cache = 'off'`);
  const uncached = await search(c!, 0);
  await c!.query(`SET vectorgate.search_cache = 'on'`);
  const first = await search(c!, 0);
  const hits = stats().cache.hits;
  assert.deepEqual(await search(c!, 0), first);
  assert.equal(stats().cache.hits, hits + 1, 'the repeat came from the cache');
  assert.deepEqual(first, uncached);
  // A row exactly at the query: the next answer must start with it.
  await c!.query(`SELECT vector_upsert('lines', 'at-the-query', $1, '{"text":"new"}')`, [vectorText(0)]);
  const after = await search(c!, 0) as { id: string }[];
  assert.equal(after[0]!.id, 'at-the-query');
  await c!.query(`SELECT vector_delete('lines', 'at-the-query')`);
  assert.deepEqual(await search(c!, 0), uncached, 'and the delete is seen at once too');
  await c!.query('RESET vectorgate.search_cache');
});

test('identical searches in flight share one execution: one reranker call, every client gets the answer', async () => {
  const queryText = queryTexts[5]!;
  for (const c of clients) await c.query(`SET vectorgate.rerank = on`);
  const calls = server.requests.length;
  const joined = stats().coalesced;
  server.hold = true;
  const answers = clients.map((c) => search(c, 5, { queryText }));
  try {
    await until(() => server.requests.length === calls + 1 && stats().coalesced === joined + clients.length - 1, 'five searches joined the first');
  } finally {
    server.release();
  }
  const all = await Promise.all(answers);
  for (const answer of all) assert.deepEqual(answer, all[0]);
  assert.equal(server.requests.length, calls + 1, 'the reranker was called once');
  assert.equal((all[0] as unknown[]).length, 10);
  for (const c of clients) await c.query('RESET vectorgate.rerank');
});

test('session and linearizable reads never use the cache (nor join another search)', async () => {
  const [c] = clients;
  await c!.query(`SET vectorgate.search_cache = 'on'`);
  const eventual = await search(c!, 7);
  const before = stats().cache;
  for (const consistency of ['session', 'linearizable']) assert.deepEqual(await search(c!, 7, { consistency }), eventual);
  const afterReads = stats().cache;
  assert.equal(afterReads.hits, before.hits, 'no hit');
  assert.equal(afterReads.misses, before.misses, 'not even looked up');
  assert.deepEqual(await search(c!, 7, { consistency: 'eventual' }), eventual);
  assert.equal(stats().cache.hits, before.hits + 1);
  await c!.query('RESET vectorgate.search_cache');
});

test('after a write, the frequent searches are warmed in the background, rerank included', async () => {
  const [c] = clients;
  await c!.query(`SET vectorgate.rerank = on`);
  const queryText = queryTexts[9]!;
  for (let i = 0; i < 3; i++) await search(c!, 9, { queryText });
  const runs = stats().warmup.runs;
  await c!.query(`SELECT vector_upsert('lines', 'warm', $1, '{"text":"warm"}')`, [vectorText(11)]);
  await until(() => stats().warmup.runs > runs && stats().warmup.pending === 0, 'the warmup ran');
  const calls = server.requests.length;
  const hits = stats().cache.hits;
  const warmed = await search(c!, 9, { queryText });
  assert.equal(stats().cache.hits, hits + 1, 'answered from the warmed cache');
  assert.equal(server.requests.length, calls, 'without calling the reranker again');
  await c!.query(`SET vectorgate.search_cache = 'off'`);
  assert.deepEqual(await search(c!, 9, { queryText }), warmed, 'the warmed answer is the fresh one');
  await c!.query('RESET ALL');
});

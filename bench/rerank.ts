// Reranking and the search cache under a Zipf query mix (issue 12), glove-100 with its words as texts:
// QPS and p50/p99 through the proxy with the cache off and on (hit rate); the latency a reranker
// adds (bm25 in the proxy; http against a local server answering after a fixed delay), with the
// cache off and on; the fallback rate when that server's delay passes rerank_timeout_ms. Beside
// them, in the same run: pgvector's HNSW over the same rows and mix, straight to PostgreSQL (it has
// no result cache and no rerank), when the upstream has the extension.
//   npm run bench:rerank [-- --rows 100000 --seconds 10 --connections 4 --zipf 1.1 --http-delay-ms 2]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { makeConfig } from '../src/config.ts';
import { Collections } from '../src/router/collections.ts';
import { startProxy } from '../src/wire/server.ts';
import { createMetrics } from '../src/metrics.ts';
import { createLogger } from '../src/log.ts';
import { readVecs } from '../src/cli/fvecs.ts';
import { binaryHeader, binaryRow, binaryTrailer } from '../src/cli/load-encode.ts';
import { startCluster, ROLES, DATABASE } from '../test/helpers/cluster.ts';
import { startRerankServer } from '../test/helpers/rerank-server.ts';
import { installSignalHandlers, onCleanup, stopAll } from './lib/cleanup.ts';
import { DATA_ROOT } from './lib/search-data.ts';
import { pgvectorAvailable } from './lib/search-pgvector.ts';
import { closedLoop, zipfSequence, type LoadResult } from './lib/rerank-load.ts';
import { connectAll, vectorText } from './lib/search-sql.ts';

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'glove-100' },
    rows: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '4' },
    zipf: { type: 'string', default: '1.1' },
    ef: { type: 'string', default: '64' },
    'top-n': { type: 'string', default: '50' },
    'http-delay-ms': { type: 'string', default: '2' },
    'slow-delay-ms': { type: 'string', default: '50' },
    'timeout-ms': { type: 'string', default: '20' },
    'results-dir': { type: 'string', default: join(import.meta.dirname, 'results') },
    'no-write': { type: 'boolean', default: false },
  },
});
const seconds = Number(args.seconds);
const connections = Number(args.connections);
const ef = Number(args.ef);
const CREDENTIALS = { user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE };

interface Phase { name: string; result: LoadResult; hitRate: number | null; reranks: number; fallbacks: Record<string, number> }

function words(file: string, limit: number): string[] {
  return readFileSync(file, 'utf8').trim().split('\n').slice(0, limit).map((line) => (JSON.parse(line) as { text: string }).text);
}

async function copyInto(client: pg.Client, statement: string, base: Float32Array, dims: number, rows: number, texts: string[] | null): Promise<void> {
  function* chunks(): Generator<Buffer> {
    yield binaryHeader();
    for (let first = 0; first < rows; first += 2000) {
      const out: Buffer[] = [];
      for (let i = first; i < Math.min(first + 2000, rows); i++) out.push(binaryRow(String(i), base, texts === null ? undefined : JSON.stringify({ text: texts[i] }), i * dims, dims));
      yield Buffer.concat(out);
    }
    yield binaryTrailer();
  }
  await pipeline(Readable.from(chunks()), client.query(copyFrom(statement)));
}

async function main(): Promise<void> {
  installSignalHandlers();
  const dir = join(DATA_ROOT, args.dataset);
  const base = readVecs(join(dir, 'base.fvecs'), 'f', Number(args.rows));
  const queries = readVecs(join(dir, 'query.fvecs'), 'f');
  const baseTexts = words(join(dir, 'texts.jsonl'), base.rows);
  const queryTexts = words(join(dir, 'query_texts.jsonl'), queries.rows);
  const queryVectors = Array.from({ length: queries.rows }, (_, q) => vectorText(queries.data.subarray(q * queries.dims, (q + 1) * queries.dims)));
  const sequence = zipfSequence(queries.rows, 200_000, Number(args.zipf), 7);
  const distinct = new Set(sequence.slice(0, 20_000)).size;
  console.log(`${args.dataset}: ${base.rows} rows × ${base.dims}, ${queries.rows} queries in a Zipf(${args.zipf}) mix (${distinct} distinct in the first 20,000)`);

  const server = await startRerankServer();
  onCleanup('rerank server', () => server.stop());
  server.mode = 'slow';
  const cluster = await startCluster();
  onCleanup('postgres', () => cluster.stop());
  const admin = await cluster.admin(DATABASE);
  await admin.query('CREATE SCHEMA IF NOT EXISTS vectorgate AUTHORIZATION pg_database_owner');
  const vectorDir = mkdtempSync(join(tmpdir(), 'vectorgate-bench-rerank-'));
  const config = makeConfig({ listenPort: 0, upstreamPort: cluster.port, logLevel: 'silent', metricsPort: 0, rerankerAllowedHosts: '127.0.0.1' });
  const collections = await Collections.open(vectorDir, config);
  onCleanup('collections', async () => { await collections.close(); rmSync(vectorDir, { recursive: true, force: true }); });
  const proxy = await startProxy(config, createMetrics(), createLogger('silent'), collections);
  onCleanup('proxy', () => proxy.close());
  let reranks = 0;
  const fallbacks: Record<string, number> = {};
  collections.onRerank((_kind, _seconds, fellBack) => { reranks++; if (fellBack !== null) fallbacks[fellBack] = (fallbacks[fellBack] ?? 0) + 1; });

  const [owner] = await connectAll(proxy.port, CREDENTIALS, 1);
  await owner!.query(`SELECT vector_create_collection('rr', ${base.dims}, metric => 'cosine', ef_construction => 200)`);
  let started = performance.now();
  await copyInto(owner!, 'COPY rr (id, vector, payload) FROM STDIN (FORMAT binary)', base.data, base.dims, base.rows, baseTexts);
  console.log(`vectorgate: loaded and indexed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  await owner!.query(`SELECT vector_set_policy('rr', 'ef_search', '${ef}')`);
  await owner!.query(`SELECT vector_set_policy('rr', 'rerank_top_n', '${args['top-n']}')`);
  await owner!.query(`SELECT vector_set_policy('rr', 'reranker_url', '${server.url}')`);

  const clients = await connectAll(proxy.port, CREDENTIALS, connections);
  const phases: Phase[] = [];
  const run = async (name: string, settings: Record<string, string>, withText: boolean, target = clients): Promise<void> => {
    for (const c of target) for (const [key, value] of Object.entries(settings)) await c.query(`SET ${key} = '${value}'`);
    const before = collections.searchStats().cache;
    const [r0, f0] = [reranks, { ...fallbacks }];
    const sql = withText ? `SELECT id FROM vector_search('rr', $1, 10, query_text => $2)` : `SELECT id FROM vector_search('rr', $1, 10)`;
    const result = await closedLoop(target, sequence, seconds, (q) => ({ text: sql, values: withText ? [queryVectors[q], queryTexts[q]] : [queryVectors[q]] }));
    const after = collections.searchStats().cache;
    const looked = after.hits + after.misses - before.hits - before.misses;
    const phase = { name, result, hitRate: looked === 0 ? null : (after.hits - before.hits) / looked, reranks: reranks - r0,
      fallbacks: Object.fromEntries(Object.entries(fallbacks).map(([cause, n]) => [cause, n - (f0[cause] ?? 0)]).filter(([, n]) => Number(n) > 0)) };
    phases.push(phase);
    console.log(line(phase));
  };
  await run('warm-up (not reported)', { 'vectorgate.search_cache': 'off' }, false);
  phases.pop();
  await run('vectorgate, no rerank, cache off', { 'vectorgate.search_cache': 'off', 'vectorgate.rerank': 'off' }, false);
  await run('vectorgate, no rerank, cache on', { 'vectorgate.search_cache': 'on' }, false);
  await run('vectorgate, rerank bm25, cache off', { 'vectorgate.search_cache': 'off', 'vectorgate.rerank': 'on', 'vectorgate.reranker': 'bm25' }, true);
  await run('vectorgate, rerank bm25, cache on', { 'vectorgate.search_cache': 'on' }, true);
  server.delayMs = Number(args['http-delay-ms']);
  await run(`vectorgate, rerank http (server ${server.delayMs} ms), cache off`, { 'vectorgate.search_cache': 'off', 'vectorgate.reranker': 'http', 'vectorgate.rerank_timeout_ms': '1000' }, true);
  await run(`vectorgate, rerank http (server ${server.delayMs} ms), cache on`, { 'vectorgate.search_cache': 'on' }, true);
  server.delayMs = Number(args['slow-delay-ms']);
  await run(`vectorgate, rerank http (server ${server.delayMs} ms > timeout ${args['timeout-ms']} ms), cache off`,
    { 'vectorgate.search_cache': 'off', 'vectorgate.rerank_timeout_ms': args['timeout-ms'] }, true);
  await Promise.all(clients.map((c) => c.end()));
  await owner!.end();

  if (await pgvectorAvailable(admin)) {
    await admin.query('CREATE EXTENSION IF NOT EXISTS vector');
    await admin.query(`CREATE TABLE rr_pgvector (id text, embedding vector(${base.dims}))`);
    started = performance.now();
    await copyInto(admin, 'COPY rr_pgvector (id, embedding) FROM STDIN (FORMAT binary)', base.data, base.dims, base.rows, null);
    await admin.query(`SET maintenance_work_mem = '1GB'`);
    await admin.query('CREATE INDEX ON rr_pgvector USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 200)');
    console.log(`pgvector: loaded and indexed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const direct = await connectAll(cluster.port, CREDENTIALS, connections);
    for (const c of direct) await c.query(`SET hnsw.ef_search = ${ef}`);
    const result = await closedLoop(direct, sequence, seconds, (q) => ({ text: 'SELECT id FROM rr_pgvector ORDER BY embedding <=> $1::vector LIMIT 10', values: [queryVectors[q]] }));
    const phase = { name: 'pgvector 0.8 HNSW, straight to PostgreSQL (no cache, no rerank)', result, hitRate: null, reranks: 0, fallbacks: {} };
    phases.push(phase);
    console.log(line(phase));
    await Promise.all(direct.map((c) => c.end()));
  } else {
    console.log('pgvector: not installed in the upstream PostgreSQL, left out');
  }
  await admin.end();
  const table = markdown(phases);
  console.log(`\n${table}`);
  if (!args['no-write']) {
    mkdirSync(args['results-dir'], { recursive: true });
    const stamp = new Date().toISOString().slice(0, 10);
    const head = `# Rerank and search-cache benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC\n\n` +
      `${args.dataset}, ${base.rows} rows × ${base.dims} (cosine, 1 shard, ef ${ef}, k 10, rerank_top_n ${args['top-n']}; one-word query texts get ` +
      `ceil(top_n / 3) candidates), ${queries.rows} queries in a Zipf(${args.zipf}) mix, ${connections} connections closed-loop, ${seconds} s per row.\n\n`;
    writeFileSync(join(args['results-dir'], `rerank-${stamp}.md`), head + table + '\n');
    writeFileSync(join(args['results-dir'], `rerank-${stamp}.json`), JSON.stringify({ args: { ...args, 'results-dir': undefined }, phases }, null, 2));
  }
}

function line(p: Phase): string {
  const r = p.result;
  return `${p.name}: ${r.qps.toFixed(0)} QPS, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms` +
    (p.hitRate === null ? '' : `, hit rate ${(p.hitRate * 100).toFixed(1)} %`) + (p.reranks === 0 ? '' : `, ${fallbackText(p)}`);
}

/** "0 of 1,204 reranks fell back" or "5 timeout + 4,092 circuit_open of 4,097 reranks fell back". */
function fallbackText(p: Phase): string {
  const causes = Object.entries(p.fallbacks);
  const total = causes.reduce((n, [, c]) => n + c, 0);
  const split = causes.length === 0 ? '0' : causes.map(([cause, n]) => `${n} ${cause}`).join(' + ');
  return `${split} of ${p.reranks} reranks fell back (${((total / p.reranks) * 100).toFixed(1)} %)`;
}

function markdown(phases: Phase[]): string {
  const rows = phases.map((p) => `| ${p.name} | ${p.result.qps.toFixed(0)} | ${p.result.p50Ms.toFixed(2)} | ${p.result.p99Ms.toFixed(2)} | ` +
    `${p.hitRate === null ? '—' : `${(p.hitRate * 100).toFixed(1)} %`} | ${p.reranks === 0 ? '—' : fallbackText(p)} |`);
  return ['| target | QPS | p50 ms | p99 ms | cache hit rate | rerank fallbacks |', '|---|---:|---:|---:|---:|---:|', ...rows].join('\n');
}

main().then(() => stopAll(), async (err: unknown) => {
  console.error(err);
  await stopAll();
  process.exitCode = 1;
});

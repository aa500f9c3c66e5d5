// Search benchmark (issue 3): load + index time through vectorgate, restart time, QPS and recall@10 at
// several ef through the proxy (node-postgres, 1 and 4 connections) next to the raw engine in this
// process on the same data, memory per vector for f32 and f16, and pgvector when the upstream has it.
// See bench/README.md.   npm run bench:search -- --dataset glove-100 [--limit N] [--queries N] …
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { startCluster, ROLES, DATABASE } from '../test/helpers/cluster.ts';
import { installSignalHandlers, onCleanup, stopAll } from './lib/cleanup.ts';
import { ROOT } from './lib/processes.ts';
import { compiledIsFresh } from '../bin/compiled.js';
import { loadDataset, type Dataset } from './lib/search-data.ts';
import { buildRaw, searchRaw, type RawIndex } from './lib/search-raw.ts';
import { processStartMs, rssBytes, startProxy, type Credentials, type ProxyChild } from './lib/search-proxy.ts';
import { connectAll, endAll } from './lib/search-sql.ts';
import { loadThroughProxy, probeStatement, queryParams, queryProxy, snapshotInProcess, type CollectionOptions } from './lib/search-vectorgate.ts';
import { profileDir, profileReport } from './lib/search-profile.ts';
import { pgvectorAvailable, runPgvector, type PgvectorResult } from './lib/search-pgvector.ts';
import { bestAtRecall, markdownTable, summaryMarkdown, svgPlot, textTable, type Measurement, type Summary } from './lib/search-report.ts';
import type { Metric } from '../src/engine/vector-math.ts';

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'glove-100' },
    metric: { type: 'string' },
    limit: { type: 'string' },
    queries: { type: 'string' },
    ef: { type: 'string', default: '16,32,48,64,96,128,256' },
    connections: { type: 'string', default: '1,4' },
    shards: { type: 'string', default: '1' },
    quantization: { type: 'string', default: 'f32' },
    raw: { type: 'string', default: 'f32,f16' },
    m: { type: 'string', default: '16' },
    'ef-construction': { type: 'string', default: '200' },
    'vector-param': { type: 'string', default: 'text' },
    warmup: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
    tag: { type: 'string' },
    pgvector: { type: 'string', default: 'auto' },
    profile: { type: 'boolean', default: false },
    'results-dir': { type: 'string', default: join(ROOT, 'bench', 'results') },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  console.log(`usage: npm run bench:search -- [options]
  --dataset NAME         folder in ../shared/data (default glove-100)
  --metric M             cosine|l2 (default: l2 for siftsmall and fashion-mnist-784, else cosine)
  --limit N              only the first N base vectors (ground truth recomputed by brute force)
  --queries N            only the first N queries
  --ef LIST              search ef values (default 16,32,48,64,96,128,256)
  --connections LIST     node-postgres connections through vectorgate (default 1,4)
  --shards N             shards of the collection (default 1, the collection default)
  --quantization Q       f32|f16 for the vectorgate collection
  --raw LIST             quantizations of the raw engine in this process (default f32,f16)
  --m N --ef-construction N   HNSW build parameters (default 16, 200) for all targets
  --vector-param FORM    text ('[1,2,…]', default) or binary (vector_send) query parameters
  --warmup N             queries before each measurement (default 100)
  --rounds N             pass over all ef values N times, alternating the targets, and keep each
                         one's median per ef (default 3): the machine's speed drifts, one pass misleads
  --tag NAME             add -NAME to the result files' names (a re-run beside an earlier one)
  --pgvector WHEN        auto (when the upstream has the extension) or never
  --profile              run the queried proxy under --cpu-prof (restart time then includes the
                         profiler) and print each busy thread's top functions
  --results-dir DIR      where search-<date>.md/.json and search.svg go (default bench/results)
  --no-write             print only`);
  process.exit(0);
}

const int = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
};
const efs = args.ef.split(',').map((v) => int('ef', v));
const connectionCounts = args.connections.split(',').map((v) => int('connections', v));
const metric = (args.metric ?? (/sift|mnist/.test(args.dataset) ? 'l2' : 'cosine')) as Metric;
if (!['cosine', 'l2'].includes(metric)) throw new Error('--metric must be cosine or l2');
if (!['f32', 'f16'].includes(args.quantization)) throw new Error('--quantization must be f32 or f16');
const rawQuantizations = args.raw.split(',').map((q) => {
  if (q !== 'f32' && q !== 'f16') throw new Error('--raw takes f32 and/or f16');
  return q === 'f16' ? 'f16' as const : 'none' as const;
});
if (!['text', 'binary'].includes(args['vector-param'])) throw new Error('--vector-param must be text or binary');
const collection: CollectionOptions = {
  shards: int('shards', args.shards), quantization: args.quantization === 'f16' ? 'f16' : 'none',
  m: int('m', args.m), efConstruction: int('ef-construction', args['ef-construction']),
};
const warmup = Number(args.warmup);
const rounds = int('rounds', args.rounds);
const credentials: Credentials = { user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE };
/** What bin/vectorgate.js runs: the compiled dist/ (npm install builds it) or the sources via tsx. */
const code: string = compiledIsFresh() ? 'the compiled dist/' : 'the TypeScript sources (dist/ missing or older; npm run build)';
const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

interface VectorgateFigures { loadSeconds: number; rssBytesPerVector: number; replayOpenSeconds: number; snapshotSeconds: number; diskBytesPerVector: number; restartMs: number; processStartMs: number; rssAfterRestartPerVector: number }

/** Start, load, stop; snapshot in-process; start again (timed). Returns the running proxy. */
async function vectorgatePhase(upstreamPort: number, data: Dataset, nodeFlags: string[]): Promise<{ proxy: ProxyChild; figures: VectorgateFigures }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vectorgate-bench-search-'));
  onCleanup('vectorgate data dir', () => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startProxy({ upstreamPort, dataDir, credentials, probe: 'SELECT 1' });
  log(`vectorgate pid ${first.pid} on port ${first.port} running ${code}; COPY ${fmt(data.baseRows)} vectors into ${collection.shards} shards`);
  const load = await loadThroughProxy(first, credentials, data, collection);
  log(`loaded and indexed in ${load.seconds.toFixed(1)} s (${fmt(data.baseRows / load.seconds)} vectors/s), every write durable`);
  await first.stop();
  const snap = await snapshotInProcess(dataDir, credentials.database, data);
  log(`open with log replay ${snap.replayOpenSeconds.toFixed(1)} s, snapshot ${snap.snapshotSeconds.toFixed(1)} s, ${fmt(snap.diskBytesPerVector)} bytes/vector on disk`);
  const proxy = await startProxy({ upstreamPort, dataDir, credentials, probe: probeStatement(data), nodeFlags });
  log(`restart from the snapshot: first query answered after ${fmt(proxy.readyMs)} ms`);
  return {
    proxy,
    figures: {
      loadSeconds: load.seconds, rssBytesPerVector: load.rssBytesPerVector, ...snap,
      restartMs: proxy.readyMs, processStartMs: await processStartMs(), rssAfterRestartPerVector: rssBytes(proxy.pid) / data.baseRows,
    },
  };
}

/** Every single run, for the JSON. */
const allRuns: Measurement[] = [];

/** Per target and connection count, the run with the median QPS. */
function medians(runs: Measurement[]): Measurement[] {
  const series = new Map<string, Measurement[]>();
  for (const m of runs) {
    const key = `${m.target}/${m.connections}`;
    series.set(key, [...(series.get(key) ?? []), m]);
  }
  return [...series.values()].map((list) => list.sort((a, b) => a.qps - b.qps)[Math.floor((list.length - 1) / 2)]!);
}

/** `rounds` times, for each ef: the raw engine (f32, f16), then vectorgate at each connection count. */
async function queryPhase(proxy: ProxyChild, data: Dataset, raws: RawIndex[]): Promise<Measurement[]> {
  const params = queryParams(data, args['vector-param'] as 'text' | 'binary');
  const pools = await Promise.all(connectionCounts.map((n) => connectAll(proxy.port, credentials, n)));
  const rows: Measurement[] = [];
  try {
    // The restarted proxy serves an mmap view of the snapshot: one pass at the largest ef pages the
    // graph in, so the first ef measured does not pay for it.
    await queryProxy(proxy, pools[0]!, params, data, Math.max(...efs), 0);
    // Rounds outermost: every ef's runs are spread over the whole phase, so a slow minute on a shared
    // host weighs on every ef alike instead of on whichever ef was measured then.
    for (let round = 1; round <= rounds; round++) {
      for (const ef of efs) {
        const runs: Measurement[] = [];
        for (const raw of raws) runs.push(searchRaw(raw, data, 10, ef, warmup));
        for (const clients of pools) runs.push(await queryProxy(proxy, clients, params, data, ef, warmup));
        allRuns.push(...runs);
        log(`round ${round}/${rounds}  ef ${String(ef).padStart(4)}  ${runs.map((r) => `${r.target} ${r.connections} conn ${fmt(r.qps)} QPS`).join(', ')}  recall@10 ${runs.map((r) => r.recall.toFixed(4)).join(' / ')}`);
      }
    }
    for (const ef of efs) rows.push(...medians(allRuns.filter((m) => m.ef === ef)));
  } finally {
    await Promise.all(pools.map(endAll));
  }
  return rows.sort((a, b) => a.target.localeCompare(b.target) || a.connections - b.connections || a.ef - b.ef);
}

function summarize(data: Dataset, raws: RawIndex[], vg: VectorgateFigures, rows: Measurement[], pgv: PgvectorResult | null): Summary[] {
  const best = bestAtRecall(rows, 0.95);
  const bestOf = (name: string) => best.find((b) => b.series === name);
  const raw = bestOf('raw usearch, 1 conn');
  const s: Summary[] = [
    { label: 'data', value: `${data.name}: ${fmt(data.baseRows)} × ${data.dims}, ${data.metric}, ${fmt(data.queryRows)} queries; truth: ${data.truthSource}` },
    { label: 'vectorgate code', value: code },
    { label: 'vectorgate collection', value: `${collection.shards} shards, ${args.quantization}, m ${collection.m}, ef_construction ${collection.efConstruction}; query vectors as ${args['vector-param']}` },
    { label: 'load + index through vectorgate (COPY binary, every write durable)', value: `${vg.loadSeconds.toFixed(1)} s (${fmt(data.baseRows / vg.loadSeconds)} vectors/s)` },
    { label: 'raw usearch build in-process (one batch, all cores)', value: raws.map((r) => `${r.quantization === 'f16' ? 'f16' : 'f32'} ${r.buildSeconds.toFixed(1)} s`).join(', ') },
    { label: 'restart from a snapshot, until the first query answers', value: `${fmt(vg.restartMs)} ms (of which starting the process, timed as \`vectorgate settings\`: ${fmt(vg.processStartMs)} ms)` },
    { label: 'open without a snapshot (replay of the whole log), in-process', value: `${vg.replayOpenSeconds.toFixed(1)} s; taking the snapshot ${vg.snapshotSeconds.toFixed(1)} s` },
    ...raws.map((r) => ({ label: `bytes/vector, raw usearch ${r.quantization === 'f16' ? 'f16' : 'f32'}`, value: `${fmt(r.memoryBytesPerVector)} (memoryBytes), ${fmt(r.fileBytesPerVector)} (index file)` })),
    { label: 'bytes/vector, vectorgate', value: `${fmt(vg.diskBytesPerVector)} on disk after the snapshot (index + payload store + catalog); proxy RSS growth during load ${fmt(vg.rssBytesPerVector)}; proxy RSS after restart ${fmt(vg.rssAfterRestartPerVector)} (whole process ÷ vectors)` },
  ];
  for (const b of best) {
    const ratio = raw && !Number.isNaN(raw.qps) && b.series !== raw.series ? ` = ${(b.qps / raw.qps).toFixed(2)}× raw single-thread` : '';
    s.push({ label: `best QPS at recall@10 ≥ 0.95: ${b.series}`, value: Number.isNaN(b.qps) ? 'recall 0.95 not reached' : `${fmt(b.qps)} (ef ${b.ef}, recall ${b.recall.toFixed(4)})${ratio}` });
  }
  if (pgv) s.push({ label: 'pgvector COPY + CREATE INDEX', value: `${pgv.copySeconds.toFixed(1)} s + ${pgv.indexSeconds.toFixed(1)} s` });
  return s;
}

async function main(): Promise<void> {
  installSignalHandlers();
  const started = new Date();
  const limit = args.limit ? int('limit', args.limit) : Infinity;
  const data = await loadDataset(args.dataset, metric, limit, args.queries ? int('queries', args.queries) : Infinity, 10);
  log(`${data.name}: ${fmt(data.baseRows)} × ${data.dims} (${data.metric}), ${fmt(data.queryRows)} queries; truth: ${data.truthSource}`);
  const raws = rawQuantizations.map((q) => buildRaw(data, q, collection.m, collection.efConstruction));
  for (const r of raws) log(`raw usearch ${r.quantization === 'f16' ? 'f16' : 'f32'} built in ${r.buildSeconds.toFixed(1)} s, ${fmt(r.memoryBytesPerVector)} bytes/vector`);

  // fsync on: pgvector's COPY and index build, when measured, are then durable as vectorgate's are.
  const cluster = await startCluster({ fsync: 'on', shared_buffers: '256MB' });
  onCleanup('postgres', () => cluster.stop());
  const profiles = args.profile ? profileDir(args['results-dir'], started) : null;
  const { proxy, figures } = await vectorgatePhase(cluster.port, data, profiles ? ['--cpu-prof', `--cpu-prof-dir=${profiles}`] : []);
  const rows = await queryPhase(proxy, data, raws);
  await proxy.stop();
  if (profiles) console.log(`\nproxy profile (start-up, warm-up pass, then every ef and connection count; per query):\n${profileReport(profiles, rows.filter((r) => r.target === 'vectorgate').length * (data.queryRows + warmup) + data.queryRows)}\n`);

  let pgv: PgvectorResult | null = null;
  const admin = await cluster.admin(DATABASE);
  const hasPgvector = args.pgvector !== 'never' && await pgvectorAvailable(admin);
  await admin.end();
  if (hasPgvector) {
    log('pgvector: COPY, CREATE INDEX … USING hnsw, queries');
    pgv = await runPgvector(cluster.port, credentials, data, efs, connectionCounts, collection.m, collection.efConstruction, warmup);
    rows.push(...pgv.measurements);
  } else {
    log('pgvector: the upstream PostgreSQL has no `vector` extension; left out');
  }
  report(started, data, summarize(data, raws, figures, rows, pgv), rows);
}

function report(started: Date, data: Dataset, summary: Summary[], rows: Measurement[]): void {
  console.log('\n' + textTable(rows) + '\n');
  for (const s of summary) console.log(`${s.label}: ${s.value}`);
  const environment = {
    date: started.toISOString(),
    git: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim(),
    node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', loadavgAfter: loadavg().map((x) => Number(x.toFixed(2))),
    // Paths relative to the repository, so a results file names no machine's directories.
    args: { ...args, 'results-dir': relative(ROOT, args['results-dir']) },
  };
  console.log(`load average after: ${environment.loadavgAfter.join(' ')} on ${environment.cpus} CPUs`);
  if (args['no-write']) return;
  mkdirSync(args['results-dir'], { recursive: true });
  // Runs with other settings than the defaults get their own files instead of replacing the default's.
  const variant = [args.limit ? `-${data.baseRows}` : '', collection.shards !== 1 ? `-s${collection.shards}` : '', args.quantization === 'f16' ? '-f16' : '', args.tag ? `-${args.tag}` : ''].join('');
  const base = join(args['results-dir'], `search-${data.name}${variant}-${started.toISOString().slice(0, 10)}`);
  writeFileSync(`${base}.json`, JSON.stringify({ environment, summary, rows, runs: allRuns }, null, 2) + '\n');
  writeFileSync(`${base}.md`, `# Search benchmark, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC\n\n${summaryMarkdown(summary)}\n\n${markdownTable(rows)}\n`);
  const svg = join(args['results-dir'], `search${variant}.svg`);
  writeFileSync(svg, svgPlot(rows, `${data.name} (${fmt(data.baseRows)} × ${data.dims}, ${data.metric}): recall–QPS`));
  log(`wrote ${base}.md, ${base}.json and ${svg}`);
}

main().then(() => stopAll(), async (err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  await stopAll();
  process.exitCode = 1;
});

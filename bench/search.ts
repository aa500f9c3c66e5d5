// Search benchmark (issues 3 and 11): load + index time through vectorgate, crash replay and restart
// times, QPS and recall@10 at several ef through the proxy (node-postgres, 1 and 4 connections) next to
// the raw engine in this process on the same data, memory and disk per vector per quantization kind,
// and pgvector when the upstream has it; on a shared data set or on synthetic ones of several sizes.
// See bench/README.md.   npm run bench:search -- --dataset glove-100 [--limit N] [--queries N] …
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { startCluster, ROLES, DATABASE } from '../test/helpers/cluster.ts';
import { installSignalHandlers, onCleanup, stopAll } from './lib/cleanup.ts';
import { ROOT } from './lib/processes.ts';
import { compiledIsFresh } from '../bin/compiled.js';
import { loadDataset, type Dataset } from './lib/search-data.ts';
import { syntheticDataset } from './lib/search-synthetic.ts';
import { figuresOf, parseKinds } from './lib/search-raw.ts';
import { runDataset, type DatasetResult, type RunSettings } from './lib/search-run.ts';
import { gridMarkdown, gridText, kindsTable, summarize } from './lib/search-summary.ts';
import { scaleGrid, scaleSvg, type ScaleEntry } from './lib/search-scale.ts';
import { profileDir, profileReport } from './lib/search-profile.ts';
import { pgvectorAvailable } from './lib/search-pgvector.ts';
import { processStartMs } from './lib/search-proxy.ts';
import { markdownTable, summaryMarkdown, svgPlot, textTable, type Summary } from './lib/search-report.ts';
import type { Metric } from '../src/engine/vector-math.ts';

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'glove-100' },
    synthetic: { type: 'string' },
    dims: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    metric: { type: 'string' },
    limit: { type: 'string' },
    queries: { type: 'string' },
    ef: { type: 'string', default: '16,32,48,64,96,128,256' },
    connections: { type: 'string', default: '1,4' },
    shards: { type: 'string', default: '1' },
    quantization: { type: 'string', default: 'f32' },
    raw: { type: 'string', default: 'f32,f16' },
    oversample: { type: 'string' },
    m: { type: 'string', default: '16' },
    'ef-construction': { type: 'string', default: '200' },
    'vector-param': { type: 'string', default: 'text' },
    warmup: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
    tag: { type: 'string' },
    pgvector: { type: 'string', default: 'auto' },
    'pgvector-max-rows': { type: 'string', default: '200000' },
    profile: { type: 'boolean', default: false },
    'results-dir': { type: 'string', default: join(ROOT, 'bench', 'results') },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  console.log(`usage: npm run bench:search -- [options]
  --dataset NAME         folder in ../shared/data (default glove-100)
  --synthetic LIST       instead: seeded clustered cosine data sets of these sizes (e.g. 10000,100000,1000000),
                         each run in turn, then a table of QPS at recall 0.95 against size (bench:scale)
  --dims D --seed S      dimensions (default 100) and seed (default 1) of the synthetic data
  --metric M             cosine|l2 (default: l2 for siftsmall and fashion-mnist-784, else cosine)
  --limit N              only the first N base vectors (ground truth recomputed by brute force)
  --queries N            only the first N queries (synthetic: default 1,000, 200 above 200,000 rows)
  --ef LIST              search ef values (default 16,32,48,64,96,128,256)
  --connections LIST     node-postgres connections through vectorgate (default 1,4)
  --shards N             shards of the collection (default 1, the collection default)
  --quantization LIST    kinds of vectorgate collection, each measured in turn: f32,f16,int8,binary (default
                         f32); a kind the running code refuses is reported as refused
  --raw LIST             kinds of the raw engine in this process (default f32,f16; also int8, binary)
  --oversample LIST      int8=X,binary=Y: candidates ceil(k × X) rescored exactly by the raw int8/binary
                         targets (default int8=2,binary=8); given, it is also SET as vectorgate.oversample
  --m N --ef-construction N   HNSW build parameters (default 16, 200) for all targets
  --vector-param FORM    text ('[1,2,…]', default) or binary (vector_send) query parameters
  --warmup N             queries before each measurement (default 100)
  --rounds N             pass over all ef values N times, alternating the targets, and keep each
                         one's median per ef (default 3): the machine's speed drifts, one pass misleads
  --tag NAME             add -NAME to the result files' names (a re-run beside an earlier one)
  --pgvector WHEN        auto (when the upstream has the extension) or never
  --pgvector-max-rows N  leave pgvector out above N base vectors (default 200,000: its HNSW build of 1M
                         takes far longer than everything else)
  --profile              run the queried proxy under --cpu-prof (restart time then includes the
                         profiler) and print each busy thread's top functions
  --results-dir DIR      where search-<date>.md/.json and search.svg (scale-…) go (default bench/results)
  --no-write             print only`);
  process.exit(0);
}

const int = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
};
const list = (name: string, v: string) => v.split(',').map((x) => int(name, x));
const metric = (args.metric ?? (/sift|mnist/.test(args.dataset) ? 'l2' : 'cosine')) as Metric;
if (!['cosine', 'l2'].includes(metric)) throw new Error('--metric must be cosine or l2');
if (args.synthetic && args.metric && args.metric !== 'cosine') throw new Error('--synthetic data are cosine');
if (!['text', 'binary'].includes(args['vector-param'])) throw new Error('--vector-param must be text or binary');
const kinds = parseKinds('quantization', args.quantization);
const oversample = { int8: 2, binary: 8 };
for (const part of args.oversample?.split(',') ?? []) {
  const [kind, value] = part.split('=');
  if ((kind !== 'int8' && kind !== 'binary') || !(Number(value) >= 1)) throw new Error(`--oversample takes int8=X,binary=Y with X, Y ≥ 1; got ${part}`);
  oversample[kind] = Number(value);
}
const credentials = { user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE };
/** What bin/vectorgate.js runs: the compiled dist/ (npm install builds it) or the sources via tsx. */
const code: string = compiledIsFresh() ? 'the compiled dist/' : 'the TypeScript sources (dist/ missing or older; npm run build)';
const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const settings: Omit<RunSettings, 'pgvector' | 'nodeFlags'> = {
  efs: list('ef', args.ef), connectionCounts: list('connections', args.connections),
  collection: { shards: int('shards', args.shards), m: int('m', args.m), efConstruction: int('ef-construction', args['ef-construction']) },
  kinds, rawKinds: parseKinds('raw', args.raw), oversample, setOversample: args.oversample !== undefined,
  vectorParam: args['vector-param'] as 'text' | 'binary', warmup: Number(args.warmup), rounds: int('rounds', args.rounds), credentials, log,
};

async function datasets(): Promise<AsyncGenerator<Dataset>> {
  const queryLimit = args.queries ? int('queries', args.queries) : undefined;
  if (!args.synthetic) {
    const limit = args.limit ? int('limit', args.limit) : Infinity;
    return (async function* () { yield await loadDataset(args.dataset, metric, limit, queryLimit ?? Infinity, 10); })();
  }
  const sizes = list('synthetic', args.synthetic);
  return (async function* () {
    for (const n of sizes) {
      log(`generating ${n} × ${args.dims} synthetic vectors and their exact neighbours`);
      yield await syntheticDataset(n, int('dims', args.dims), queryLimit ?? (n > 200_000 ? 200 : 1000), 10, int('seed', args.seed));
    }
  })();
}

async function main(): Promise<void> {
  installSignalHandlers();
  const started = new Date();
  // fsync on: pgvector's COPY and index build, when measured, are then durable as vectorgate's are.
  const cluster = await startCluster({ fsync: 'on', shared_buffers: '256MB' });
  onCleanup('postgres', () => cluster.stop());
  const admin = await cluster.admin(DATABASE);
  const hasPgvector = args.pgvector !== 'never' && await pgvectorAvailable(admin);
  await admin.end();
  if (!hasPgvector) log('pgvector: left out (--pgvector never, or the upstream PostgreSQL has no `vector` extension)');
  const profiles = args.profile ? profileDir(args['results-dir'], started) : null;
  const startMs = await processStartMs();
  const scale: ScaleEntry[] = [];
  for await (const data of await datasets()) {
    log(`${data.name}: ${data.baseRows} × ${data.dims} (${data.metric}), ${data.queryRows} queries; truth: ${data.truthSource}`);
    const pgvector = hasPgvector && data.baseRows <= int('pgvector-max-rows', args['pgvector-max-rows']);
    if (hasPgvector && !pgvector) log(`pgvector: left out above --pgvector-max-rows`);
    const result = await runDataset(cluster.port, data, { ...settings, pgvector, nodeFlags: profiles ? ['--cpu-prof', `--cpu-prof-dir=${profiles}`] : [] });
    if (profiles) {
      const queried = result.rows.filter((r) => r.target.startsWith('vectorgate')).length;
      console.log(`\nproxy profile (start-up, warm-up pass, then every ef and connection count; per query):\n${profileReport(profiles, queried * (data.queryRows + settings.warmup) + data.queryRows)}\n`);
    }
    report(started, data, summarize(data, { ...settings, pgvector, nodeFlags: [] }, result, code, startMs), result);
    scale.push({ rows: data.baseRows, queries: data.queryRows, truthSource: data.truthSource, result: { ...result, raws: result.raws.map(figuresOf) } });
  }
  if (args.synthetic) reportScale(started, scale);
}

function environment(started: Date) {
  return {
    date: started.toISOString(),
    git: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim(),
    node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', loadavgAfter: loadavg().map((x) => Number(x.toFixed(2))),
    // Paths relative to the repository, so a results file names no machine's directories.
    args: { ...args, 'results-dir': relative(ROOT, args['results-dir']) },
  };
}

function report(started: Date, data: Dataset, summary: Summary[], result: DatasetResult): void {
  const kindsGrid = kindsTable(result, settings.connectionCounts);
  console.log('\n' + textTable(result.rows) + '\n\n' + gridText(kindsGrid) + '\n');
  for (const s of summary) console.log(`${s.label}: ${s.value}`);
  const env = environment(started);
  console.log(`load average after: ${env.loadavgAfter.join(' ')} on ${env.cpus} CPUs`);
  if (args['no-write']) return;
  mkdirSync(args['results-dir'], { recursive: true });
  // Runs with other settings than the defaults get their own files instead of replacing the default's.
  const variant = [args.limit ? `-${data.baseRows}` : '', settings.collection.shards !== 1 ? `-s${settings.collection.shards}` : '', args.quantization !== 'f32' ? `-${kinds.join('-')}` : '', args.tag ? `-${args.tag}` : ''].join('');
  const base = join(args['results-dir'], `search-${data.name}${variant}-${started.toISOString().slice(0, 10)}`);
  const { raws, ...figures } = result;
  const rawFigures = raws.map(figuresOf);
  writeFileSync(`${base}.json`, JSON.stringify({ environment: env, summary, ...figures, raws: rawFigures }, null, 2) + '\n');
  writeFileSync(`${base}.md`, `# Search benchmark, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC\n\n${summaryMarkdown(summary)}\n\n${gridMarkdown(kindsGrid)}\n\n${markdownTable(result.rows)}\n`);
  const svg = join(args['results-dir'], `search${args.synthetic ? `-${data.name}` : ''}${variant}.svg`);
  writeFileSync(svg, svgPlot(result.rows, `${data.name} (${data.baseRows.toLocaleString('en-US')} × ${data.dims}, ${data.metric}): recall–QPS`));
  log(`wrote ${base}.md, ${base}.json and ${svg}`);
}

function reportScale(started: Date, entries: ScaleEntry[]): void {
  const grid = scaleGrid(entries, settings.connectionCounts);
  console.log(`\nQPS at recall@10 0.95 by size (synthetic, ${args.dims} dims, cosine):\n${gridText(grid)}\n`);
  if (args['no-write']) return;
  const name = `scale-${args.dims}${kinds.length > 1 || kinds[0] !== 'f32' ? `-${kinds.join('-')}` : ''}${args.tag ? `-${args.tag}` : ''}`;
  const base = join(args['results-dir'], `${name}-${started.toISOString().slice(0, 10)}`);
  const sizes = entries.map((e) => ({ rows: e.rows, queries: e.queries, truthSource: e.truthSource, kinds: e.result.kinds, measurements: e.result.rows }));
  writeFileSync(`${base}.json`, JSON.stringify({ environment: environment(started), grid, sizes }, null, 2) + '\n');
  writeFileSync(`${base}.md`, `# Search benchmark by size, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC\n\nQPS at recall@10 0.95 (interpolated between ef values; "c" = connections).\n\n${gridMarkdown(grid)}\n`);
  const svg = join(args['results-dir'], `${name}.svg`);
  writeFileSync(svg, scaleSvg(entries, `synthetic ${args.dims}-dim cosine: QPS at recall 0.95 by size`));
  log(`wrote ${base}.md, ${base}.json and ${svg}`);
}

main().then(() => stopAll(), async (err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  await stopAll();
  process.exitCode = 1;
});

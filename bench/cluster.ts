// `npm run bench:cluster` — the cluster mode's figures side by side in one run (issue 10, "Must show"):
//   1. write throughput through the proxies vs etcd's raw guarded-append rate for the same transactions;
//   2. search QPS and recall@10 through clusters of 1, 2 and 3 workers and through the embedded default;
//   3. the gRPC hop vs the worker_threads hop (bench/grpc-hop.ts, run as a child);
//   4. failover time from a worker's SIGKILL to the first search answered by another replica.
// One PostgreSQL and one etcd serve every part; each cluster has an etcd prefix of its own. Prints
// what it does, the table, and writes results/cluster-<date>[-tag].md and results/cluster[-tag].svg.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { installSignalHandlers, stopAll } from './lib/cleanup.ts';
import { pin, startBase, startBenchCluster, vgEnv } from './lib/cluster-env.ts';
import { measureFailover } from './lib/cluster-failover.ts';
import { markdown, svgChart, type ClusterReport } from './lib/cluster-report.ts';
import { measureSearch, startSearchTargets } from './lib/cluster-search.ts';
import { measureWrites } from './lib/cluster-write.ts';
import { ROOT } from './lib/processes.ts';
import { loadDataset } from './lib/search-data.ts';

const { values: args } = parseArgs({ options: {
  dataset: { type: 'string', default: 'glove-100' },
  rows: { type: 'string', default: '20000' },
  queries: { type: 'string', default: '500' },
  ef: { type: 'string', default: '64' },
  connections: { type: 'string', default: '1,4' },
  workers: { type: 'string', default: '1,2,3' },
  rounds: { type: 'string', default: '3' },
  'write-clients': { type: 'string', default: '4' },
  'write-rows': { type: 'string', default: '10000' },
  'write-rounds': { type: 'string', default: '3' },
  'grpc-rows': { type: 'string', default: '10000' },
  'grpc-queries': { type: 'string', default: '1000' },
  'failover-repetitions': { type: 'string', default: '5' },
  'etcd-members': { type: 'string', default: '1' },
  pin: { type: 'string', default: 'on' },
  skip: { type: 'string', default: '' },
  tag: { type: 'string' },
  help: { type: 'boolean', default: false },
} });
if (args.help) {
  console.log(`npm run bench:cluster -- [--rows 20000] [--queries 500] [--ef 64] [--connections 1,4] [--workers 1,2,3] [--rounds 3]
  [--write-clients 4] [--write-rows 10000] [--write-rounds 3] [--grpc-rows 10000] [--grpc-queries 1000]
  [--failover-repetitions 5] [--etcd-members 1] [--pin on|off] [--skip writes,search,grpc,failover] [--tag T]`);
  process.exit(0);
}
const list = (s: string) => s.split(',').filter((x) => x !== '').map(Number);
const skip = new Set(args.skip.split(','));
const log = (line: string) => console.log(line);
const LEASE_TTL_SECONDS = 5;
// COPY through a cluster proxy writes each batch as one etcd transaction: batches of 1,000 glove rows
// (≈ 430 KB) stay under etcdTxnMaxBytes (1 MiB); the defaults (2,000 per batch, atomic up to 10,000
// rows) exceed it (54000). The embedded default gets the same settings so both load alike.
const COPY_ENV = { VECTORGATE_COPY_ATOMIC_MAX_ROWS: '1000', VECTORGATE_COPY_BATCH_ROWS: '1000' };
const env = vgEnv(1, COPY_ENV);

function runGrpcHop(out: string): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/grpc-hop.ts', '--rows', args['grpc-rows'], '--queries', args['grpc-queries'], '--out', out], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve(readFileSync(out, 'utf8')) : reject(new Error(`bench/grpc-hop.ts exited ${String(code)}`)))));
}

installSignalHandlers();
const startedAt = Date.now();
const data = await loadDataset(args.dataset, 'cosine', Number(args.rows), Number(args.queries), 10);
log(`bench:cluster — ${data.name}, ${data.baseRows} rows × ${data.dims}, ${data.queryRows} queries (truth: ${data.truthSource})`);
const report: ClusterReport = { header: [], writes: null, search: [], searchNote: '', grpcHop: null, failover: [], leaseTtlSeconds: LEASE_TTL_SECONDS };
let pinned = 'not pinned';
try {
  const base = await startBase(Number(args['etcd-members']));
  log(`PostgreSQL on ${base.pg.port}, ${args['etcd-members']} etcd member(s) at ${base.etcd.urls}`);
  if (!skip.has('writes')) {
    log('1. writes: a cluster of 2 proxies (no workers: writes do not involve them, and indexing would take the CPUs the raw run has to itself)');
    const bc = await startBenchCluster(base, 0, 2, env);
    report.writes = await measureWrites(base, bc, data, Number(args['write-clients']), Number(args['write-rows']), Number(args['write-rounds']), log);
    await bc.stop();
  }
  if (!skip.has('grpc')) {
    log(`3. gRPC hop: bench/grpc-hop.ts --rows ${args['grpc-rows']} --queries ${args['grpc-queries']} (a minute or two)`);
    report.grpcHop = (await runGrpcHop(join(base.dir, 'grpc-hop.md'))).split('\n').slice(1).join('\n');
  }
  if (!skip.has('search')) {
    log('2. search: loading the embedded default and the clusters');
    const pinOn = args.pin === 'on' && cpus().length >= 2 && pin(process.pid, '0');
    const targets = await startSearchTargets(base, data, list(args.workers), env, pinOn ? '1' : null, log);
    pinned = pinOn ? 'benchmark process (the clients) on CPU 0, every vectorgate process of the search targets (proxy, workers, shard threads) on CPU 1 (taskset -a -p); PostgreSQL and etcd unpinned' : 'not pinned';
    report.searchNote = `${data.baseRows} rows of ${data.name} (the first ones; truth: ${data.truthSource}), ${data.queryRows} queries, k=10, ef ${args.ef}, 1 shard, M 16, ef_construction 100; ` +
      `each cluster has 1 proxy and a replica on every worker (reads spread over them); embedded = \`vectorgate proxy --data-dir\` without --etcd. Pinning: ${pinned}. ` +
      `Median of ${args.rounds} rounds; the targets take turns, order reversed every round.`;
    report.search = await measureSearch(targets, data, list(args.connections), Number(args.rounds), Number(args.ef), log);
    if (pinOn) pin(process.pid, `0-${cpus().length - 1}`);
  }
  if (!skip.has('failover')) {
    log(`4. failover: 3 workers, 1 proxy, workerLeaseTtlSeconds ${LEASE_TTL_SECONDS}`);
    const bc = await startBenchCluster(base, 3, 1, { ...env, VECTORGATE_WORKER_LEASE_TTL_SECONDS: String(LEASE_TTL_SECONDS) });
    report.failover = await measureFailover(base, bc, data, Number(args['failover-repetitions']), LEASE_TTL_SECONDS, log);
    await bc.stop();
  }
} finally {
  await stopAll();
}
const date = new Date().toISOString().slice(0, 10);
const suffix = args.tag === undefined ? '' : `-${args.tag}`;
report.header = [
  `# Cluster benchmark (${date})`, '',
  `\`npm run bench:cluster -- ${process.argv.slice(2).join(' ')}\` — ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end (shared machine), ` +
  `${args['etcd-members']} etcd member(s) (etcd on PATH), VECTORGATE_SHARD_WORKERS=1, COPY batches of 1,000 rows; whole run ${((Date.now() - startedAt) / 1000).toFixed(0)} s.`,
];
const md = markdown(report);
console.log(`\n${md}`);
const dir = join(ROOT, 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, `cluster-${date}${suffix}.md`), md);
writeFileSync(join(dir, `cluster${suffix}.svg`), svgChart(report));
console.log(`written: bench/results/cluster-${date}${suffix}.md, bench/results/cluster${suffix}.svg`);

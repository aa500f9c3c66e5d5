// Tenant isolation and the cost of privilege checks (issue 9). Tenant roles on one collection: B runs
// a steady search load (paced: --b-rate searches a second, latency from the scheduled time) alone,
// then while A floods searches and writes in closed loops far above its quotas (role settings
// vectorgate.max_searches_per_second = 100, max_write_rows_per_second = 500), then while C — A's twin
// without quotas — floods the same way, which shows what the quotas keep from B. B's QPS and p50/p99
// in each phase, and the flooders' accepted and refused (53400) statements. Then the search
// QPS of B (a non-superuser with a warm privilege cache) through the proxy as started normally and
// through one with ProxyOptions.uncheckedAccess over the same collections, in alternating rounds.
//   npm run bench:tenants [-- --seconds 10 --cost-seconds 2 --cost-rounds 10 --rows 20000]
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { seeded, randomInt } from '../test/helpers/random.ts';
import { installSignalHandlers, stopAll } from './lib/cleanup.ts';
import { ROOT } from './lib/processes.ts';
import { qps } from './lib/tenants-load.ts';
import { LoadClients } from './lib/tenants-clients.ts';
import { checkMicros } from './lib/tenants-check-cost.ts';
import { startBench, loadData, COLLECTION, TENANT_A, TENANT_B, TENANT_C, TENANT_A_QUOTAS, type BenchData } from './lib/tenants-setup.ts';
import { tenantsMarkdown, tenantsText, type CostRounds, type TenantsResult } from './lib/tenants-report.ts';

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'glove-100' },
    rows: { type: 'string', default: '20000' },
    queries: { type: 'string', default: '1000' },
    shards: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '10' },
    'warmup-seconds': { type: 'string', default: '2' },
    'b-connections': { type: 'string', default: '2' },
    'b-rate': { type: 'string', default: '200' },
    'a-search-connections': { type: 'string', default: '16' },
    'a-write-connections': { type: 'string', default: '4' },
    'write-rows': { type: 'string', default: '20' },
    'cost-seconds': { type: 'string', default: '2' },
    'cost-rounds': { type: 'string', default: '10' },
    k: { type: 'string', default: '10' },
  },
});
const seconds = Number(args.seconds);
const warmupSeconds = Number(args['warmup-seconds']);
const k = Number(args.k);
const writeRows = Number(args['write-rows']);

/** Tenant A's write batches (jsonb): overwrites of ids a-0 … with the vectors of seeded random base rows. */
function writeBatches(data: BenchData, count: number): string[] {
  const random = seeded(91);
  return Array.from({ length: count }, (_, b) => JSON.stringify(Array.from({ length: writeRows }, (_, i) => {
    const from = randomInt(random, data.rows);
    return { id: `a-${b * writeRows + i}`, vector: Array.from(data.base.subarray(from * data.dims, (from + 1) * data.dims)) };
  })));
}

const bSearch = { kind: 'search', name: 'b_search', offset: 0 } as const;
const aSearch = { kind: 'search', name: 'a_search', offset: 500 } as const;

/** The proxy's event loop (this thread) during a phase: how long it was late at worst, to tell its stalls from the shard workers'. */
async function loopDelay<T>(phase: string, run: () => Promise<T>): Promise<T> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  try {
    return await run();
  } finally {
    histogram.disable();
    console.log(`${phase}: proxy event loop delay p99 ${(histogram.percentile(99) / 1e6).toFixed(1)} ms, max ${(histogram.max / 1e6).toFixed(1)} ms`);
  }
}

async function isolation(clients: LoadClients, port: number): Promise<Omit<TenantsResult, 'alternating' | 'checkMicros'>> {
  await clients.connect('b', port, TENANT_B, Number(args['b-connections']));
  for (const [name, login] of [['a', TENANT_A], ['c', TENANT_C]] as const) {
    await clients.connect(`${name}-search`, port, login, Number(args['a-search-connections']));
    await clients.connect(`${name}-write`, port, login, Number(args['a-write-connections']));
  }
  const bRate = Number(args['b-rate']);
  const b = { pool: 'b', seconds, statement: bSearch, ratePerSecond: bRate };
  console.log(`warm-up ${warmupSeconds} s, then B alone ${seconds} s at ${bRate} searches/s …`);
  // Each flooding session also runs its first vector statement now (when it reads its role's quotas).
  await clients.run([{ ...b, seconds: warmupSeconds }, ...['a-search', 'a-write', 'c-search', 'c-write'].map((pool) => ({ pool, seconds: 0.2, statement: aSearch }))]);
  const [bAlone] = await loopDelay('B alone', () => clients.run([b]));
  const flood = async (name: 'a' | 'c') => {
    const [bDuring, searches, writes] = await loopDelay(`B during ${name}'s flood`, () => clients.run([b,
      { pool: `${name}-search`, seconds, statement: aSearch },
      { pool: `${name}-write`, seconds, statement: { kind: 'write', name: `${name}_write` } }]));
    for (const [who, st] of [['B', bDuring!], [`${name} searches`, searches!], [`${name} writes`, writes!]] as const) {
      if (st.firstFailure !== null) console.log(`${who}: ${st.failed} statements failed other than 53400, first: ${st.firstFailure}`);
    }
    return { b: bDuring!, searches: searches!, writes: writes! };
  };
  console.log(`B alone: ${qps(bAlone!).toFixed(0)} QPS; now B during A's flood ${seconds} s …`);
  const a = await flood('a');
  console.log('now B during the flood of C (no quotas) …');
  const c = await flood('c');
  return {
    bAlone: bAlone!, bFlood: a.b, aSearches: a.searches, aWrites: a.writes, aWriteRows: writeRows,
    bUnlimitedFlood: c.b, cSearches: c.searches, cWrites: c.writes,
  };
}

/**
 * B's search QPS through each proxy in alternating rounds, the order swapped every round (checked,
 * unchecked, unchecked, checked, …) so that a drift in the machine's other load hits both alike. (Both
 * at once would be steadier but blind: the two proxies share one event loop and the shard workers,
 * and closed loops behind a shared queue get equal turns whatever each costs.)
 */
async function checkCost(clients: LoadClients, checkedPort: number, uncheckedPort: number): Promise<CostRounds> {
  const connections = Number(args['b-connections']);
  await clients.connect('checked', checkedPort, TENANT_B, connections);
  await clients.connect('unchecked', uncheckedPort, TENANT_B, connections);
  const statement = { ...bSearch, name: 'cost_search' };
  const load = async (pool: string, s: number) => qps((await clients.run([{ pool, seconds: s, statement }]))[0]!);
  await load('checked', warmupSeconds);
  await load('unchecked', warmupSeconds);
  const roundSeconds = Number(args['cost-seconds']);
  const rounds: CostRounds = { checked: [], unchecked: [] };
  for (let round = 0; round < Number(args['cost-rounds']); round++) {
    const order = round % 2 === 0 ? ['checked', 'unchecked'] as const : ['unchecked', 'checked'] as const;
    for (const pool of order) rounds[pool].push(await load(pool, roundSeconds));
    console.log(`cost round ${round + 1}: checked ${rounds.checked.at(-1)!.toFixed(0)} QPS, unchecked ${rounds.unchecked.at(-1)!.toFixed(0)} QPS`);
  }
  return rounds;
}

function resultsFile(data: BenchData, granted: boolean, table: string): string {
  const date = new Date().toISOString().slice(0, 10);
  const file = join(ROOT, 'bench', 'results', `tenants-${date}.md`);
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  const quotas = Object.entries(TENANT_A_QUOTAS).map(([name, value]) => `\`${name} = ${value}\``).join(', ');
  writeFileSync(file, [
    `# Tenants, ${date}`, '',
    `Command: \`npm run bench:tenants -- ${process.argv.slice(2).join(' ')}\`.`.replace(' -- `', '`'),
    `Data: ${data.source}, ${data.dims} dims, cosine, ${args.shards} shards; searches k = ${k}. ` +
      `${availableParallelism()} cores, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} at the end.`,
    `Tenant A (role settings ${quotas}) and C (none): ${args['a-search-connections']} searching + ${args['a-write-connections']} writing connections each, closed loop; ` +
      `tenant B: ${args['b-rate']} searches/s paced over ${args['b-connections']} connections (latency from the scheduled time); ${seconds} s per phase.`,
    granted ? 'Grants: SELECT, INSERT, UPDATE on vectorgate.tenants to tenant_a and tenant_c; SELECT to tenant_b.'
      : '**No relation vectorgate.tenants: this proxy has no access checks or quotas yet, so nothing was granted and nothing is refused.**',
    '', table, '',
  ].join('\n'));
  return file;
}

async function main(): Promise<void> {
  installSignalHandlers();
  const data = loadData(args.dataset!, Number(args.rows), Number(args.queries));
  console.log(`data: ${data.source}; starting PostgreSQL and the proxies, loading ${data.rows} rows …`);
  const bench = await startBench(data, Number(args.shards));
  if (!bench.granted) console.log('no relation vectorgate.tenants: this proxy has no access checks yet (grants skipped)');
  const clients = LoadClients.start({ collection: COLLECTION, k, queries: data.queries, batches: writeBatches(data, 50) });
  const result: TenantsResult = {
    ...await isolation(clients, bench.checked.port),
    alternating: await checkCost(clients, bench.checked.port, bench.unchecked.port),
    checkMicros: await checkMicros(),
  };
  console.log(`\n${tenantsText(result)}\n`);
  console.log(`written to ${resultsFile(data, bench.granted, tenantsMarkdown(result))}`);
}

try {
  await main();
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await stopAll();
}

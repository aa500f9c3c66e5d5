// Tenant isolation and the cost of privilege checks (issue 9). Two tenant roles on one collection:
// B runs a steady closed-loop search load alone, then again while A floods searches and writes above
// its quotas (role settings vectorgate.max_searches_per_second = 200, max_write_rows_per_second = 500);
// B's QPS and p50/p99 in both phases, and A's accepted and refused (53400) statements. Then the search
// QPS of B (a non-superuser with a warm privilege cache) through the proxy as started normally and
// through one with ProxyOptions.uncheckedAccess over the same collections, in alternating rounds.
//   npm run bench:tenants [-- --seconds 10 --cost-seconds 3 --cost-rounds 6 --rows 20000]
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { seeded, randomInt } from '../test/helpers/random.ts';
import { installSignalHandlers, stopAll } from './lib/cleanup.ts';
import { ROOT } from './lib/processes.ts';
import { closedLoop, qps, type Statement } from './lib/tenants-load.ts';
import { startBench, loadData, connect, COLLECTION, TENANT_A, TENANT_B, TENANT_A_QUOTAS, type BenchData } from './lib/tenants-setup.ts';
import { tenantsMarkdown, tenantsText, type TenantsResult } from './lib/tenants-report.ts';

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'glove-100' },
    rows: { type: 'string', default: '20000' },
    queries: { type: 'string', default: '1000' },
    shards: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '10' },
    'warmup-seconds': { type: 'string', default: '2' },
    'b-connections': { type: 'string', default: '2' },
    'a-search-connections': { type: 'string', default: '4' },
    'a-write-connections': { type: 'string', default: '2' },
    'write-rows': { type: 'string', default: '20' },
    'cost-seconds': { type: 'string', default: '3' },
    'cost-rounds': { type: 'string', default: '6' },
    k: { type: 'string', default: '10' },
  },
});
const seconds = Number(args.seconds);
const warmupSeconds = Number(args['warmup-seconds']);
const k = Number(args.k);
const writeRows = Number(args['write-rows']);

function searches(data: BenchData, name: string, offset: number): (connection: number, n: number) => Statement {
  return (connection, n) => ({
    name, text: `SELECT id FROM vector_search($1, $2, ${k})`,
    values: [COLLECTION, data.queries[(offset + connection * 7919 + n) % data.queries.length]],
  });
}

/** Tenant A's write batches: overwrites of ids a-0 … (vectors of seeded random base rows). */
function writeBatches(data: BenchData, count: number): string[] {
  const random = seeded(91);
  return Array.from({ length: count }, (_, b) => JSON.stringify(Array.from({ length: writeRows }, (_, i) => {
    const from = randomInt(random, data.rows);
    return { id: `a-${b * writeRows + i}`, vector: Array.from(data.base.subarray(from * data.dims, (from + 1) * data.dims)) };
  })));
}

async function isolation(data: BenchData, port: number): Promise<Omit<TenantsResult, 'checkedQps' | 'uncheckedQps'>> {
  const b = await connect(port, TENANT_B, Number(args['b-connections']));
  const aSearch = await connect(port, TENANT_A, Number(args['a-search-connections']));
  const aWrite = await connect(port, TENANT_A, Number(args['a-write-connections']));
  const batches = writeBatches(data, 50);
  const write = (connection: number, n: number): Statement => ({
    name: 'a_write', text: 'SELECT vector_upsert($1, $2::jsonb)', values: [COLLECTION, batches[(connection * 13 + n) % batches.length]],
  });
  console.log(`warm-up ${warmupSeconds} s, then B alone ${seconds} s …`);
  await closedLoop(b, warmupSeconds, searches(data, 'b_search', 0));
  // Each of A's sessions runs its first vector statement now (when it reads its role's quotas).
  await closedLoop([...aSearch, ...aWrite], 0.2, searches(data, 'a_search', 500));
  const bAlone = await closedLoop(b, seconds, searches(data, 'b_search', 0));
  console.log(`B alone: ${qps(bAlone).toFixed(0)} QPS; now B during A's flood ${seconds} s …`);
  const [bFlood, aSearches, aWrites] = await Promise.all([
    closedLoop(b, seconds, searches(data, 'b_search', 0)),
    closedLoop(aSearch, seconds, searches(data, 'a_search', 500)),
    closedLoop(aWrite, seconds, write),
  ]);
  for (const [who, s] of [['B', bFlood], ['A searches', aSearches], ['A writes', aWrites]] as const) {
    if (s.firstFailure !== null) console.log(`${who}: ${s.failed} statements failed other than 53400, first: ${s.firstFailure}`);
  }
  return { bAlone, bFlood, aSearches, aWrites, aWriteRows: writeRows };
}

/**
 * Alternating rounds of B's search load through each proxy, the order swapped every round (checked,
 * unchecked, unchecked, checked, …) so that a drift in the machine's other load hits both alike.
 */
async function checkCost(data: BenchData, checkedPort: number, uncheckedPort: number): Promise<{ checkedQps: number[]; uncheckedQps: number[] }> {
  const connections = Number(args['b-connections']);
  const checked = await connect(checkedPort, TENANT_B, connections);
  const unchecked = await connect(uncheckedPort, TENANT_B, connections);
  const load = async (clients: pg.Client[], s: number) => qps(await closedLoop(clients, s, searches(data, 'cost_search', 0)));
  await load(checked, warmupSeconds);
  await load(unchecked, warmupSeconds);
  const checkedQps: number[] = [];
  const uncheckedQps: number[] = [];
  const roundSeconds = Number(args['cost-seconds']);
  for (let round = 0; round < Number(args['cost-rounds']); round++) {
    if (round % 2 === 0) {
      checkedQps.push(await load(checked, roundSeconds));
      uncheckedQps.push(await load(unchecked, roundSeconds));
    } else {
      uncheckedQps.push(await load(unchecked, roundSeconds));
      checkedQps.push(await load(checked, roundSeconds));
    }
    console.log(`cost round ${round + 1}: checked ${checkedQps.at(-1)!.toFixed(0)} QPS, unchecked ${uncheckedQps.at(-1)!.toFixed(0)} QPS`);
  }
  return { checkedQps, uncheckedQps };
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
    `Tenant A (role settings ${quotas}): ${args['a-search-connections']} searching + ${args['a-write-connections']} writing connections, closed loop; ` +
      `tenant B: ${args['b-connections']} searching connections, closed loop; ${seconds} s per phase.`,
    granted ? 'Grants: SELECT, INSERT, UPDATE on vectorgate.tenants to tenant_a; SELECT to tenant_b.'
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
  const result: TenantsResult = { ...await isolation(data, bench.checked.port), ...await checkCost(data, bench.checked.port, bench.unchecked.port) };
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

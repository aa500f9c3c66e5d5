// Pass-through benchmark (issue 2): pgbench select-only in simple, extended and prepared mode, 1 and 8
// clients, directly against PostgreSQL, through vectorgate and through PgBouncer, targets alternating
// run by run, each configuration repeated --rounds times (median). See bench/README.md.
//   npm run bench:passthrough -- [--seconds 10] [--rounds 3] [--profile auto|always|never] …
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { startCluster, ROLES, DATABASE } from '../test/helpers/cluster.ts';
import { installSignalHandlers, onCleanup, stopAll } from './lib/cleanup.ts';
import { PGBOUNCER, ROOT, processStats, statsPer, pgbouncerVersion, startNodePipe, startPgBouncer, startVectorgate, type Endpoint } from './lib/processes.ts';
import { initialize, selectOnly, type Connection, type Mode } from './lib/pgbench.ts';
import { aggregate, markdownTable, svgChart, targetCheck, textTable, type RunRecord } from './lib/report.ts';
import { profileProxy, type ProfileResult } from './lib/profile.ts';
import { diagnose, formatDiagnoses, type Diagnosis } from './lib/diagnose.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    scale: { type: 'string', default: '10' },
    modes: { type: 'string', default: 'simple,extended,prepared' },
    clients: { type: 'string', default: '1,8' },
    threads: { type: 'string', default: '2' },
    targets: { type: 'string', default: 'direct,vectorgate,pgbouncer' },
    'pool-mode': { type: 'string', default: 'session' },
    profile: { type: 'string', default: 'auto' },
    'profile-seconds': { type: 'string' },
    'results-dir': { type: 'string', default: join(ROOT, 'bench', 'results') },
    'no-write': { type: 'boolean', default: false },
    strace: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  console.log(`usage: npm run bench:passthrough -- [options]
  --seconds N          duration of each pgbench run (default 10)
  --rounds N           runs per configuration and target; the median is reported (default 3;
                       0 with --profile always: only the profile)
  --warmup N           seconds of warm-up per target and mode before measuring (default 3; 0 = none)
  --scale N            pgbench -i scale (default 10)
  --modes LIST         simple,extended,prepared
  --clients LIST       1,8 (runs with more than one client use -j --threads)
  --threads N          pgbench -j for multi-client runs (default 2)
  --targets LIST       direct,vectorgate,pgbouncer (pgbouncer skipped when ${PGBOUNCER} is missing);
                       also nodepipe: a protocol-blind Node byte pipe (bench/lib/node-pipe.ts), the
                       floor for any Node proxy on net.Socket streams
  --pool-mode MODE     PgBouncer pool_mode: session or transaction (default session)
  --profile WHEN       auto (when vectorgate is below PgBouncer at 8 clients), always, never
  --profile-seconds N  length of each profiled run (default --seconds)
  --strace             with the profile, count the proxies' system calls per statement (strace -c)
  --results-dir DIR    where the .md/.json/.svg go (default bench/results)
  --no-write           print only`);
  process.exit(0);
}

const seconds = Number(args.seconds);
const rounds = Number(args.rounds);
const warmup = Number(args.warmup);
const threads = Number(args.threads);
const modes = args.modes.split(',') as Mode[];
const clientCounts = args.clients.split(',').map(Number);
const poolMode = args['pool-mode'] as 'session' | 'transaction';
for (const m of modes) if (!['simple', 'extended', 'prepared'].includes(m)) throw new Error(`unknown mode ${m}`);
if (poolMode !== 'session' && poolMode !== 'transaction') throw new Error(`unknown pool mode ${poolMode}`);
if (!['auto', 'always', 'never'].includes(args.profile)) throw new Error(`--profile must be auto, always or never`);
let targets = args.targets.split(',');
if (targets.includes('pgbouncer') && !existsSync(PGBOUNCER)) {
  console.log(`${PGBOUNCER} not found: PgBouncer left out`);
  targets = targets.filter((t) => t !== 'pgbouncer');
}

function versionOf(cmd: string, arg = '--version'): string {
  const out = spawnSync(cmd, [arg], { encoding: 'utf8' });
  return (out.stdout ?? '').split('\n')[0]?.trim() ?? 'unknown';
}

const threadsFor = (clients: number) => (clients > 1 ? Math.min(threads, clients) : 1);
const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

async function main(): Promise<void> {
  installSignalHandlers();
  const started = new Date();
  const credentials = { user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE };

  log('starting PostgreSQL');
  const cluster = await startCluster({ fsync: 'off', synchronous_commit: 'off', shared_buffers: '256MB', max_connections: '200' });
  onCleanup('postgres', () => cluster.stop());
  const admin = await cluster.admin();
  const pgVersion = (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  await admin.end();

  const direct: Endpoint = { name: 'direct', host: '127.0.0.1', port: cluster.port, pid: null, stop: async () => {} };
  log(`pgbench -i -s ${args.scale} on port ${cluster.port}`);
  await initialize({ ...credentials, host: direct.host, port: direct.port }, Number(args.scale));

  const endpoints = new Map<string, Endpoint>([['direct', direct]]);
  if (targets.includes('vectorgate')) {
    endpoints.set('vectorgate', await startVectorgate({ upstreamPort: cluster.port }));
  }
  if (targets.includes('pgbouncer')) {
    endpoints.set('pgbouncer', await startPgBouncer({
      upstreamPort: cluster.port, ...credentials, poolMode, poolSize: Math.max(...clientCounts) + 2,
    }));
  }
  if (targets.includes('nodepipe')) endpoints.set('nodepipe', await startNodePipe(cluster.port));
  for (const t of targets) log(`${t}: 127.0.0.1:${endpoints.get(t)!.port}${endpoints.get(t)!.pid ? ` (pid ${endpoints.get(t)!.pid})` : ''}`);
  const connOf = (t: string): Connection => ({ ...credentials, host: '127.0.0.1', port: endpoints.get(t)!.port });

  if (warmup > 0 && rounds > 0) {
    for (const t of targets) {
      for (const mode of modes) {
        const clients = Math.max(...clientCounts);
        await selectOnly(connOf(t), { mode, clients, threads: threadsFor(clients), seconds: warmup });
      }
      log(`warmed up ${t}`);
    }
  }

  const configs = modes.flatMap((mode) => clientCounts.map((clients) => ({ mode, clients })));
  const runs: RunRecord[] = [];
  const total = rounds * configs.length * targets.length;
  log(`${total} runs of ${seconds} s (≈ ${Math.ceil((total * (seconds + 0.5)) / 60)} min)`);
  const loadBefore = loadavg();
  for (let round = 1; round <= rounds; round++) {
    for (const { mode, clients } of configs) {
      for (const target of targets) {
        const endpoint = endpoints.get(target)!;
        const before = endpoint.pid ? processStats(endpoint.pid) : null;
        const r = await selectOnly(connOf(target), { mode, clients, threads: threadsFor(clients), seconds });
        const per = before ? statsPer(before, processStats(endpoint.pid!), r.transactions) : null;
        if (r.failed > 0) throw new Error(`${target} ${mode} ${clients}: ${r.failed} failed transactions`);
        runs.push({
          round, mode, clients, target, tps: r.tps, latencyMs: r.latencyMs, transactions: r.transactions,
          proxyCpuUsPerStatement: per ? per.userUs + per.sysUs : null,
          proxyUserUsPerStatement: per?.userUs ?? null,
          proxySysUsPerStatement: per?.sysUs ?? null,
        });
        log(`round ${round}/${rounds} ${mode.padEnd(8)} c=${clients} ${target.padEnd(10)} ${r.tps.toFixed(0).padStart(7)} tps  ${r.latencyMs.toFixed(3)} ms` +
          (per ? `  proxy CPU ${(per.userUs + per.sysUs).toFixed(1)} µs/stmt (user ${per.userUs.toFixed(1)}, sys ${per.sysUs.toFixed(1)})` : ''));
      }
    }
  }
  const loadAfter = loadavg();

  const rows = aggregate(runs, targets);
  const check = targetCheck(rows);
  const title = `vectorgate pass-through, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const environment = {
    date: started.toISOString(),
    git: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim(),
    node: process.version,
    postgres: pgVersion,
    pgbench: versionOf('/usr/bin/pgbench'),
    pgbouncer: targets.includes('pgbouncer') ? `${pgbouncerVersion()} (pool_mode=${poolMode})` : null,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadavgBefore: loadBefore.map((x) => Number(x.toFixed(2))),
    loadavgAfter: loadAfter.map((x) => Number(x.toFixed(2))),
    settings: { seconds, rounds, warmup, scale: Number(args.scale), threads, modes, clients: clientCounts, targets },
  };

  if (rounds > 0) console.log('\n' + textTable(rows) + '\n');
  for (const c of check) {
    console.log(`target (8 clients, ${c.mode}): vectorgate ${c.vectorgate.toFixed(0)} vs PgBouncer ${c.pgbouncer.toFixed(0)} TPS → ${c.met ? 'met' : 'NOT met'} (${(c.vectorgate / c.pgbouncer).toFixed(2)}×)`);
  }
  console.log(`load average before/after: ${environment.loadavgBefore.join(' ')} / ${environment.loadavgAfter.join(' ')} on ${environment.cpus} CPUs`);

  let profiles: ProfileResult[] = [];
  let diagnoses: Diagnosis[] = [];
  const wantProfile = targets.includes('vectorgate') &&
    (args.profile === 'always' || (args.profile === 'auto' && check.some((c) => !c.met)));
  const stamp = started.toISOString().slice(0, 10);
  if (wantProfile) {
    const dir = join(args['results-dir'], 'profiles', stamp);
    log(`profiling the proxy at 8 clients (simple, extended) into ${dir}`);
    profiles = await profileProxy({
      upstreamPort: cluster.port, conn: credentials,
      modes: (['simple', 'extended'] as Mode[]).filter((m) => modes.includes(m)),
      clients: 8, threads: threadsFor(8), seconds: Number(args['profile-seconds'] ?? seconds), dir, top: 25,
    });
    diagnoses = await diagnose({
      endpoints: [...endpoints.values()], credentials, modes: (['simple', 'extended'] as Mode[]).filter((m) => modes.includes(m)),
      clients: 8, threads: threadsFor(8), seconds: Number(args['profile-seconds'] ?? seconds), strace: args.strace,
    });
    console.log('\n' + formatDiagnoses(diagnoses));
    for (const p of profiles) {
      console.log(`\n== profile ${p.mode}, 8 clients: ${p.tps.toFixed(0)} TPS, proxy CPU ${p.cpuUsPerStatement.toFixed(1)} µs/statement ` +
        `(${p.cpuCores.toFixed(2)} cores), ${p.profileFile}\n${p.text}`);
    }
  }

  if (!args['no-write'] && rounds > 0) {
    mkdirSync(args['results-dir'], { recursive: true });
    const base = join(args['results-dir'], `passthrough-${stamp}`);
    writeFileSync(`${base}.json`, JSON.stringify({
      environment, rows, runs, target: check, diagnoses,
      profiles: profiles.map((p) => ({
        mode: p.mode, clients: p.clients, tps: p.tps, transactions: p.transactions,
        cpuUsPerStatement: p.cpuUsPerStatement, cpuCores: p.cpuCores, profileFile: p.profileFile,
        busyUs: p.summary.busyUs, gcUs: p.summary.gcUs,
        topSelf: p.summary.functions.filter((f) => f.name !== '(idle)').slice(0, 25),
        files: p.summary.files.slice(0, 15),
      })),
    }, null, 2) + '\n');
    writeFileSync(`${base}.md`, [
      `# ${title}`,
      '',
      '`npm run bench:passthrough -- ' + process.argv.slice(2).join(' ') + '`',
      '',
      `pgbench -S (select-only, one statement and one round trip per transaction), ${seconds} s per run, ` +
        `${rounds} round(s) with targets alternating run by run; medians. "added µs/round trip" is the latency ` +
        'difference to direct; "proxy CPU µs/stmt" is utime+stime of the proxy process per transaction.',
      '',
      markdownTable(rows),
      '',
      ...check.map((c) => `- target, 8 clients ${c.mode}: vectorgate ${c.vectorgate.toFixed(0)} vs PgBouncer ${c.pgbouncer.toFixed(0)} TPS: **${c.met ? 'met' : 'not met'}** (${(c.vectorgate / c.pgbouncer).toFixed(2)}×)`),
      '',
      `Environment: node ${environment.node}, PostgreSQL ${environment.postgres}, ${environment.pgbench}` +
        `${environment.pgbouncer ? `, ${environment.pgbouncer}` : ''}; ${environment.cpus} × ${environment.cpuModel}; ` +
        `load average before ${environment.loadavgBefore.join(' ')}, after ${environment.loadavgAfter.join(' ')}; git ${environment.git}.`,
      '',
      '![chart](passthrough.svg)',
      ...(diagnoses.length ? ['', '## Proxy cost per statement (OS view)', '', '```', formatDiagnoses(diagnoses), '```'] : []),
      ...profiles.flatMap((p) => [
        '', `## Profile: ${p.mode}, 8 clients`, '',
        `${p.tps.toFixed(0)} TPS under the profiler; proxy process CPU ${p.cpuUsPerStatement.toFixed(1)} µs per statement ` +
          `(${p.cpuCores.toFixed(2)} cores busy).`, '', '```', p.text, '```',
      ]),
      '',
    ].join('\n'));
    writeFileSync(join(args['results-dir'], 'passthrough.svg'), svgChart(rows, title));
    log(`wrote ${base}.md, ${base}.json, ${join(args['results-dir'], 'passthrough.svg')}`);
  }
}

try {
  await main();
} catch (err) {
  console.error(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await stopAll();
}

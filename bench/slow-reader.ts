// A client that sends searches and never reads their results, against the proxy as a child process:
// the proxy's resident memory before, at its peak during --seconds of it, and after the client left,
// and whether another session kept answering. Run it against several checkouts (e.g. a clone of
// main and this tree) to compare; each must have its node_modules. See issue 8.
//   node --import tsx bench/slow-reader.ts [--seconds 60] [--checkouts after=.,before=../main-clone]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startCluster, ROLES, DATABASE, type TestCluster } from '../test/helpers/cluster.ts';
import { WireClient, serialize } from '../test/helpers/wire-client.ts';
import { seeded } from '../test/helpers/random.ts';
import { freePort } from '../src/cli/postgres-server.ts';
import { installSignalHandlers, onCleanup, stopAll } from './lib/cleanup.ts';
import { ROOT, spawnChild } from './lib/processes.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    checkouts: { type: 'string', default: `after=${ROOT}` },
    rows: { type: 'string', default: '20000' },
    dims: { type: 'string', default: '32' },
    'payload-bytes': { type: 'string', default: '1000' },
    k: { type: 'string', default: '1000' },
    'rss-cap-mb': { type: 'string', default: '3000' },
  },
});
const seconds = Number(args.seconds);
const rows = Number(args.rows);
const dims = Number(args.dims);
const payloadBytes = Number(args['payload-bytes']);
const k = Number(args.k);
const rssCapBytes = Number(args['rss-cap-mb']) * 1024 * 1024;

interface Run {
  label: string;
  baselineBytes: number;
  peakBytes: number;
  afterBytes: number;
  searches: number;
  probes: string;
  stoppedAtCap: boolean;
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function localStatements(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return Number(/vectorgate_statements_total\{route="local"\} (\d+)/.exec(text)?.[1] ?? 0);
}

function vectorOf(random: () => number): number[] {
  return Array.from({ length: dims }, () => Math.round(random() * 1000) / 1000);
}

async function load(port: number): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
  try {
    await client.query(`SELECT vector_create_collection('docs', ${dims})`);
    const random = seeded(60);
    for (let start = 0; start < rows; start += 1000) {
      const batch = Array.from({ length: Math.min(1000, rows - start) }, (_, i) => ({
        id: `doc-${start + i}`, vector: vectorOf(random), payload: { text: 'x'.repeat(payloadBytes) },
      }));
      await client.query('SELECT vector_upsert($1, $2)', ['docs', JSON.stringify(batch)]);
    }
  } finally {
    await client.end();
  }
}

/** Writes searches while the proxy takes them, never reading an answer, until `until`. */
async function neverRead(socket: Socket, until: number): Promise<void> {
  const query = serialize.query(`SELECT * FROM vector_search('docs', '${JSON.stringify(vectorOf(seeded(7)))}', ${k})`);
  for (let written = 1; Date.now() < until && !socket.destroyed; written++) {
    if (socket.write(query)) {
      if (written % 100 === 0) await new Promise((done) => setImmediate(done));
      continue;
    }
    await Promise.race([new Promise((done) => socket.once('drain', done)), sleep(Math.max(0, until - Date.now()))]);
  }
}

/** Another session's `SELECT 1` every second: answered or not. */
async function probe(port: number, until: number): Promise<string> {
  let answered = 0;
  let tried = 0;
  const client = new pg.Client({ host: '127.0.0.1', port, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE, query_timeout: 10_000 });
  await client.connect();
  try {
    while (Date.now() < until) {
      tried++;
      try { await client.query('SELECT 1'); answered++; } catch { /* counted as unanswered */ }
      await sleep(1000);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  return `${answered}/${tried}`;
}

async function measure(cluster: TestCluster, label: string, checkout: string): Promise<Run> {
  const port = await freePort();
  const metricsPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'vectorgate-slow-reader-'));
  const child = spawnChild(process.execPath, [join(checkout, 'bin', 'vectorgate.js'), 'proxy',
    '--upstream', `postgres://127.0.0.1:${cluster.port}`, '--listen', `127.0.0.1:${port}`,
    '--metrics-listen', `127.0.0.1:${metricsPort}`, '--data-dir', dataDir, '--log-level', 'warn'], { cwd: checkout });
  const stop = onCleanup(label, async () => { await child.stop(); rmSync(dataDir, { recursive: true, force: true }); });
  try {
    const pid = child.process.pid!;
    for (let i = 0; i < 600; i++) {
      if (await new Promise<boolean>((ok) => { const s = connect(port, '127.0.0.1'); s.once('connect', () => { s.destroy(); ok(true); }); s.once('error', () => ok(false)); })) break;
      await sleep(100);
    }
    await load(port);
    const searchesBefore = await localStatements(metricsPort);
    const baselineBytes = rssBytes(pid);
    const reader = await WireClient.connect(port, ROLES.trust.user, DATABASE);
    reader.socket.pause();
    const until = Date.now() + seconds * 1000;
    let peakBytes = baselineBytes;
    let stoppedAtCap = false;
    const sampling = (async () => {
      while (Date.now() < until && !stoppedAtCap) {
        peakBytes = Math.max(peakBytes, rssBytes(pid));
        if (peakBytes > rssCapBytes) { stoppedAtCap = true; reader.socket.destroy(); }
        await sleep(250);
      }
    })();
    const [probes] = await Promise.all([probe(port, until), neverRead(reader.socket, until), sampling]);
    const searches = await localStatements(metricsPort) - searchesBefore;
    reader.socket.destroy();
    await sleep(5000);
    return { label, baselineBytes, peakBytes, afterBytes: rssBytes(pid), searches, probes, stoppedAtCap };
  } finally {
    await stop();
  }
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

function table(runs: Run[]): string {
  const lines = [
    `A client that never reads runs vector_search(k = ${k}) over ${rows} rows (${dims} dims, ${payloadBytes}-byte payloads) for ${seconds} s; proxy RSS:`,
    '',
    '| checkout | RSS before | peak RSS | RSS 5 s after the client left | searches answered to it | other session\'s SELECT 1 answered |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of runs) {
    lines.push(`| ${r.label} | ${mb(r.baselineBytes)} | ${mb(r.peakBytes)}${r.stoppedAtCap ? ` (stopped at the ${args['rss-cap-mb']} MB cap)` : ''} | ${mb(r.afterBytes)} | ${r.searches} | ${r.probes} |`);
  }
  return lines.join('\n');
}

installSignalHandlers();
const cluster = await startCluster();
onCleanup('postgres', () => cluster.stop());
try {
  const runs: Run[] = [];
  for (const spec of args.checkouts.split(',')) {
    const [label, dir] = spec.split('=') as [string, string];
    runs.push(await measure(cluster, label, resolve(dir)));
  }
  console.log(table(runs));
} finally {
  await stopAll();
}

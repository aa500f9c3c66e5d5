// The cost of the gRPC hop (issue 10): the same real shard replica (glove-100 rows, cosine, usearch)
// answered from a worker_threads thread (postMessage, as the embedded default) and from a
// `vectorgate worker`-style process over gRPC on loopback (src/cluster/worker-server.ts), with and
// without gzip of large replies. Calls are sequential (one in flight), so each figure is a round trip.
//   node --import tsx bench/grpc-hop.ts [--rows 20000] [--queries 2000] [--out bench/results/grpc-hop-DATE.md]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { WorkerClient } from '../src/cluster/worker-client.ts';
import { encodeResult } from '../src/cluster/worker-codec.ts';
import { makeConfig } from '../src/config.ts';
import type { IndexSpec } from '../src/engine/vector-index.ts';
import { fromWire, type Request, type Response } from '../src/router/worker-protocol.ts';
import { DATA_DIR, readFvecs, row } from '../test/engine/helpers/data.ts';

const { values: args } = parseArgs({ options: { rows: { type: 'string', default: '20000' }, queries: { type: 'string', default: '2000' }, out: { type: 'string' } } });
const rows = Number(args.rows);
const queryCount = Number(args.queries);
const root = join(import.meta.dirname, '..');
const spec: IndexSpec = { engine: 'usearch', dims: 100, metric: 'cosine', quantization: 'none', m: 16, efConstruction: 64 };
const base = readFvecs(join(DATA_DIR, 'glove-100/base.fvecs'), rows);
const queries = readFvecs(join(DATA_DIR, 'glove-100/query.fvecs'));
const texts = readFileSync(join(DATA_DIR, 'glove-100/texts.jsonl'), 'utf8').split('\n').slice(0, rows).map((line) => (JSON.parse(line) as { text: string }).text);
const work = mkdtempSync(join(tmpdir(), 'vg-grpc-hop-'));

type Call = (req: Request) => Promise<unknown>;
interface Target { name: string; call: Call; stop(): Promise<void>; client?: WorkerClient }

function threadTarget(): Target {
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./lib/grpc-hop-thread.ts', import.meta.url).href;
  const worker = new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, { eval: true, workerData: {} });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  let nextRid = 1;
  worker.on('message', (res: Response) => {
    const p = pending.get(res.rid)!;
    pending.delete(res.rid);
    if (res.ok) p.resolve(res.value); else p.reject(fromWire(res.error));
  });
  return {
    name: 'worker_threads (postMessage)',
    call: (req) => new Promise((resolve, reject) => { const rid = nextRid++; pending.set(rid, { resolve, reject }); worker.postMessage({ rid, req }); }),
    stop: async () => { await worker.terminate(); },
  };
}

async function grpcTarget(name: string, gzipMinBytes: number): Promise<Target> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/grpc-hop-worker.ts'], {
    cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, VECTORGATE_GRPC_GZIP_MIN_BYTES: String(gzipMinBytes) },
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker exited with ${String(code)}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => { const m = /^listening (\d+)$/.exec(line); if (m) resolve(Number(m[1])); });
  });
  const client = new WorkerClient(`127.0.0.1:${port}`, makeConfig());
  return {
    name, client, call: (req) => client.call(req),
    stop: async () => { client.close(); child.kill('SIGTERM'); await new Promise((resolve) => child.once('exit', resolve)); },
  };
}

async function load(target: Target, dir: string): Promise<void> {
  await target.call({ type: 'open', shard: 's', dir, spec, committed: [] });
  for (let from = 0; from < rows; from += 5000) {
    const count = Math.min(5000, rows - from);
    const ids = Array.from({ length: count }, (_, i) => String(from + i));
    const payloads = ids.map((id, i) => JSON.stringify({ id: Number(id), text: texts[from + i] }));
    await target.call({ type: 'write', shard: 's', upsert: { ids, vectors: base.data.slice(from * 100, (from + count) * 100), payloads } });
  }
}

async function timeEach(count: number, once: (i: number) => Promise<unknown>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await once(i);
    ms.push(performance.now() - started);
  }
  return ms;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const fmt = (ms: number[]) => { const sorted = [...ms].sort((a, b) => a - b); return `${quantile(sorted, 0.5).toFixed(3)} / ${quantile(sorted, 0.9).toFixed(3)}`; };
const query = (i: number) => Float32Array.from(row(queries, i % queries.count));

interface Metric { name: string; calls: number; grpcOnly?: boolean; once: (target: Target, i: number) => Promise<unknown> }
const metrics: Metric[] = [
  { name: 'stats (hop only)', calls: queryCount, once: (t) => t.call({ type: 'stats', shard: 's' }) },
  { name: 'search k=10', calls: queryCount, once: (t, i) => t.call({ type: 'search', shard: 's', query: query(i), k: 10, options: {} }) },
  { name: 'search k=1000', calls: Math.ceil(queryCount / 10), once: (t, i) => t.call({ type: 'search', shard: 's', query: query(i), k: 1000, options: {} }) },
  { name: 'snapshot transfer', calls: 10, grpcOnly: true, once: async (t, i) => {
    const into = join(work, `copy-${i}-${t.name.length}`);
    await t.client!.snapshot('s', into);
    rmSync(into, { recursive: true, force: true });
  } },
];
const ROUNDS = 10;

/**
 * The targets take turns, a block of calls each per round, so that the load of this shared machine
 * (other processes come and go) falls on all of them alike; the first round is a warm-up.
 */
async function measure(targets: Target[]): Promise<Map<string, Record<string, string>>> {
  const samples = new Map(targets.map((t) => [t.name, new Map<string, number[]>()]));
  for (const metric of metrics) {
    const block = Math.max(1, Math.ceil(metric.calls / ROUNDS));
    for (let round = 0; round <= ROUNDS; round++) {
      for (const target of targets) {
        if (metric.grpcOnly === true && target.client === undefined) continue;
        const ms = await timeEach(block, (i) => metric.once(target, round * block + i));
        if (round === 0) continue;
        const bucket = samples.get(target.name)!;
        bucket.set(metric.name, [...(bucket.get(metric.name) ?? []), ...ms]);
      }
    }
  }
  return new Map([...samples].map(([name, bucket]) => [name, Object.fromEntries([...bucket].map(([m, ms]) => [m, fmt(ms)]))]));
}

async function replyBytes(call: Call): Promise<string> {
  const hits10 = await call({ type: 'search', shard: 's', query: query(0), k: 10, options: {} });
  const hits1000 = await call({ type: 'search', shard: 's', query: query(0), k: 1000, options: {} });
  const size = (value: unknown, gzipMinBytes: number) => encodeResult('search', value as never, { maxBytes: 64 << 20, gzipMinBytes }).length;
  return `k=10: ${size(hits10, 0)} B (gzip ${size(hits10, 1)} B); k=1000: ${size(hits1000, 0)} B (gzip ${size(hits1000, 1)} B)`;
}

const targets: Target[] = [];
let figures = new Map<string, Record<string, string>>();
let sizes = '';
try {
  targets.push(threadTarget(), await grpcTarget('gRPC loopback, no gzip', 0), await grpcTarget('gRPC loopback, gzip ≥ 1 KiB', 1024));
  for (const [i, target] of targets.entries()) await load(target, join(work, `t${i}`));
  for (const target of targets) if (target.client !== undefined) await target.call({ type: 'snapshot', shard: 's' });
  sizes = await replyBytes(targets[0]!.call);
  figures = await measure(targets);
} finally {
  for (const target of targets) await target.stop();
  rmSync(work, { recursive: true, force: true });
}
const results = [...figures].map(([name, f]) => ({ name, figures: f }));

const columns = ['stats (hop only)', 'search k=10', 'search k=1000', 'snapshot transfer'];
const table = [
  `| target | ${columns.join(' | ')} |`, `|---|${columns.map(() => '---:').join('|')}|`,
  ...results.map((r) => `| ${r.name} | ${columns.map((c) => r.figures[c] ?? '—').join(' | ')} |`),
].join('\n');
const report = [
  `# gRPC hop vs worker_threads hop (${new Date().toISOString().slice(0, 10)})`, '',
  `\`node --import tsx bench/grpc-hop.ts --rows ${rows} --queries ${queryCount}\` — glove-100, ${rows} rows, 100-dim cosine, usearch M=16;`,
  `one call in flight; milliseconds, median / p90 (${queryCount} calls; k=1000: ${Math.ceil(queryCount / 10)}; snapshot: 10), the targets taking turns in ${ROUNDS} rounds after a warm-up round.`,
  `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end (shared machine).`, '',
  table, '', `Reply sizes on the wire: ${sizes}.`, '',
].join('\n');
process.stdout.write(report);
if (args.out !== undefined) writeFileSync(args.out, report);

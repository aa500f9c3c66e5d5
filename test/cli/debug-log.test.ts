// `--log-level debug` writes one sampled line per statement (route, kind, duration, rows), one in
// logSampleEvery statements of the whole proxy; at other levels there is none. The real CLI in front
// of a real PostgreSQL; its stdout is read after it exits, so every line it wrote is counted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startCluster, ROLES, DATABASE, type TestCluster } from '../helpers/cluster.ts';

const SAMPLE_EVERY = 5;
let cluster: TestCluster;
const dataDirs: string[] = [];

before(async () => {
  cluster = await startCluster();
});
after(async () => {
  await cluster?.stop();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

interface RunningProxy { child: ChildProcess; port: number; output(): Promise<string> }

async function startProxy(logLevel: string): Promise<RunningProxy> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vectorgate-debug-log-'));
  dataDirs.push(dataDir);
  const child = spawn(process.execPath, [
    'bin/vectorgate.js', 'proxy', '--upstream', `postgres://127.0.0.1:${cluster.port}`, '--listen', '127.0.0.1:0',
    '--metrics-listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', logLevel,
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VECTORGATE_LOG_SAMPLE_EVERY: String(SAMPLE_EVERY), VECTORGATE_SHARD_WORKERS: '1' } });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const check = () => {
      const listening = out.split('\n').find((line) => line.includes('"proxy listening"'));
      if (listening !== undefined) resolve((JSON.parse(listening) as { port: number }).port);
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => reject(new Error(`proxy exited ${code}:\n${out}`)));
  });
  return {
    child,
    port,
    async output() {
      child.kill('SIGTERM');
      await exited;
      return out;
    },
  };
}

async function withProxy(logLevel: string, work: (client: pg.Client) => Promise<void>): Promise<object[]> {
  const proxy = await startProxy(logLevel);
  let output: string | null = null;
  try {
    const client = new pg.Client({ host: '127.0.0.1', port: proxy.port, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
    await client.connect();
    try {
      await work(client);
    } finally {
      await client.end();
    }
  } finally {
    output = await proxy.output();
  }
  return output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { msg?: string })
    .filter((line) => line.msg === 'statement');
}

test('--log-level debug: one line in logSampleEvery statements, with route, kind, duration and rows', async () => {
  const lines = await withProxy('debug', async (client) => {
    for (let i = 0; i < 50; i++) await client.query('SELECT g FROM generate_series(1, 3) g'); // statements 1–50
    await client.query(`SELECT vector_create_collection('docs', 2)`); // 51
    await client.query(`SELECT vector_upsert('docs', '[{"id":"a","vector":[1,0]},{"id":"b","vector":[0,1]}]'::jsonb)`); // 52
    for (let i = 0; i < 25; i++) await client.query(`SELECT * FROM vector_search('docs', '[1,0]', 2)`); // 53–77
  });
  const upstream = lines.filter((l) => (l as { route?: string }).route === 'upstream');
  const local = lines.filter((l) => (l as { route?: string }).route === 'local');
  assert.equal(lines.length, Math.floor(77 / SAMPLE_EVERY), 'one in every 5 statements');
  assert.equal(upstream.length, 10);
  assert.equal(local.length, 5);
  for (const line of upstream) assert.deepEqual(pick(line), { route: 'upstream', kind: 'SELECT', rows: 3, failed: false });
  for (const line of local) assert.deepEqual(pick(line), { route: 'local', kind: 'SELECT', rows: 2, failed: false });
  for (const line of lines) assert.equal(typeof (line as { durationMs?: unknown }).durationMs, 'number');
});

test('at --log-level info there are no statement lines', async () => {
  const lines = await withProxy('info', async (client) => {
    for (let i = 0; i < 20; i++) await client.query('SELECT 1');
  });
  assert.deepEqual(lines, []);
});

function pick(line: object): object {
  const { route, kind, rows, failed } = line as Record<string, unknown>;
  return { route, kind, rows, failed };
}

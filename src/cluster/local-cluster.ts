// A whole cluster as local processes: etcd members (or a given etcd), `vectorgate worker` processes
// and `vectorgate proxy` processes in front of a PostgreSQL. `vectorgate cluster` runs it for a user
// trying the cluster on one machine, and the tests run it to kill and restart each kind of process for
// real. Every child is a real process started from bin/vectorgate.js; stop() ends them all.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../cli/postgres-server.ts';
import { EtcdMembers } from './etcd-members.ts';

export interface LocalClusterOptions {
  /** Every process's data goes below it (etcd-<i>, worker-<i>). */
  dir: string;
  /** The PostgreSQL the proxies pass through to. */
  upstream: { host: string; port: number };
  /** Client URLs of a running etcd; absent: start `etcdMembers` members here. */
  etcdUrls?: string;
  etcdMembers?: number;
  workers: number;
  /** Zone of worker i: zones[i % zones.length] (default: one zone per worker, z0, z1, …). */
  zones?: string[];
  proxies: number;
  /** Port of proxy i (default: free ports). */
  proxyPorts?: number[];
  /** The etcd URLs worker i / proxy i is given (default: every member's); tests cut one process off from etcd this way. */
  workerEtcdUrls?: (worker: number, all: string[]) => string[];
  proxyEtcdUrls?: (proxy: number, all: string[]) => string[];
  /** Extra environment for every vectorgate process (VECTORGATE_* settings). */
  env?: Record<string, string>;
  /** How long a process may take to start listening. */
  startTimeoutMs?: number;
}

const BIN = fileURLToPath(new URL('../../bin/vectorgate.js', import.meta.url));
const HOST = '127.0.0.1';
const OUTPUT_KEPT_BYTES = 16 * 1024;

/** One vectorgate child process, restartable with the same arguments (same port, same data directory). */
export class ChildHandle {
  readonly name: string;
  readonly port: number;
  readonly #args: string[];
  readonly #env: NodeJS.ProcessEnv;
  readonly #startTimeoutMs: number;
  #child: ChildProcess | null = null;
  #output = '';

  constructor(name: string, port: number, args: string[], env: NodeJS.ProcessEnv, startTimeoutMs: number) {
    this.name = name;
    this.port = port;
    this.#args = args;
    this.#env = env;
    this.#startTimeoutMs = startTimeoutMs;
  }

  get running(): boolean { return this.#child !== null; }
  get pid(): number | undefined { return this.#child?.pid; }
  /** The last bytes it wrote to stdout and stderr. */
  get output(): string { return this.#output; }
  get address(): string { return `${HOST}:${this.port}`; }

  /** Starts it (a no-op while it runs) and resolves once its port accepts connections. */
  async start(): Promise<void> {
    if (this.#child !== null) return;
    const child = spawn(process.execPath, [BIN, ...this.#args], { env: this.#env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    const keep = (chunk: Buffer) => { this.#output = (this.#output + chunk.toString('utf8')).slice(-OUTPUT_KEPT_BYTES); };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('exit', () => { if (this.#child === child) this.#child = null; });
    await this.#listening(child);
  }

  /** Sends the signal (SIGKILL: a crash) and resolves once the process has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill(signal);
    });
    if (this.#child === child) this.#child = null;
  }

  async #listening(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + this.#startTimeoutMs;
    for (;;) {
      if (this.#child !== child) throw new Error(`${this.name} exited while starting:\n${this.#output.trim()}`);
      if (await accepts(this.port)) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`${this.name} did not listen on ${this.address} within ${this.#startTimeoutMs} ms:\n${this.#output.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export class LocalCluster {
  readonly etcd: EtcdMembers | null;
  readonly etcdUrls: string;
  readonly workers: ChildHandle[];
  readonly proxies: ChildHandle[];

  private constructor(etcd: EtcdMembers | null, etcdUrls: string, workers: ChildHandle[], proxies: ChildHandle[]) {
    this.etcd = etcd;
    this.etcdUrls = etcdUrls;
    this.workers = workers;
    this.proxies = proxies;
  }

  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const startTimeoutMs = options.startTimeoutMs ?? 30_000;
    const etcd = options.etcdUrls === undefined
      ? await EtcdMembers.start({ count: options.etcdMembers ?? 3, dir: options.dir })
      : null;
    const etcdUrls = options.etcdUrls ?? etcd!.urls;
    // Each child ends itself once this process is gone (a killed test or `vectorgate cluster`).
    const env = { ...process.env, VECTORGATE_PARENT_PID: String(process.pid), ...options.env };
    const all = etcdUrls.split(',');
    const urlsOf = (pick: ((i: number, all: string[]) => string[]) | undefined, i: number) => (pick?.(i, all) ?? all).join(',');
    const workers: ChildHandle[] = [];
    const proxies: ChildHandle[] = [];
    const cluster = new LocalCluster(etcd, etcdUrls, workers, proxies);
    try {
      for (let i = 0; i < options.workers; i++) {
        const port = await freePort();
        const dataDir = join(options.dir, `worker-${i}`);
        mkdirSync(dataDir, { recursive: true });
        const zone = options.zones?.[i % options.zones.length] ?? `z${i}`;
        workers.push(new ChildHandle(`worker ${i}`, port, ['worker', '--etcd', urlsOf(options.workerEtcdUrls, i), '--listen', `${HOST}:${port}`, '--data-dir', dataDir, '--zone', zone], env, startTimeoutMs));
      }
      for (let i = 0; i < options.proxies; i++) {
        const port = options.proxyPorts?.[i] ?? await freePort();
        const upstream = `postgres://${options.upstream.host}:${options.upstream.port}`;
        proxies.push(new ChildHandle(`proxy ${i}`, port, ['proxy', '--upstream', upstream, '--etcd', urlsOf(options.proxyEtcdUrls, i), '--listen', `${HOST}:${port}`, '--metrics-listen', `${HOST}:0`], env, startTimeoutMs));
      }
      await Promise.all([...workers, ...proxies].map((child) => child.start()));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Proxies first (clients see a shutdown), then workers, then the etcd members this cluster started. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await Promise.all(this.proxies.map((p) => stopWithin(p, signal)));
    await Promise.all(this.workers.map((w) => stopWithin(w, signal)));
    await this.etcd?.stop();
  }
}

/** A graceful signal, then SIGKILL if it has not exited within a few seconds. */
async function stopWithin(child: ChildHandle, signal: NodeJS.Signals): Promise<void> {
  if (!child.running) return;
  const timer = setTimeout(() => void child.kill('SIGKILL'), 10_000);
  try { await child.kill(signal); } finally { clearTimeout(timer); }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

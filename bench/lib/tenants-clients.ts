// The benchmark's clients run in a worker thread of their own (bench/lib/tenants-worker.ts), so that
// their work — node-postgres encoding statements and parsing answers — does not share the event loop
// of the proxy under test, as real clients would not. This side sends it jobs and gets their numbers.
import { Worker } from 'node:worker_threads';
import type { LoadStats } from './tenants-load.ts';
import { onCleanup } from './cleanup.ts';

export interface Login { user: string; password: string; database: string }

/** What the worker's statements need: the collection, k, query vectors (pgvector text), write batches (jsonb text). */
export interface ClientData { collection: string; k: number; queries: string[]; batches: string[] }

export type StatementKind = { kind: 'search'; name: string; offset: number } | { kind: 'write'; name: string };

/** One loop over a pool's connections: closed, or paced at ratePerSecond; the jobs of one `run` go at once. */
export interface Job { pool: string; seconds: number; statement: StatementKind; ratePerSecond?: number }

type RequestBody =
  | { op: 'connect'; pool: string; port: number; login: Login; count: number }
  | { op: 'run'; jobs: Job[] }
  | { op: 'close' };

export type Request = RequestBody & { id: number };

export interface Reply { id: number; stats?: LoadStats[]; error?: string }

export class LoadClients {
  #next = 0;
  #exited = false;
  readonly #pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: Reply) => {
      const waiter = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.error !== undefined) waiter?.reject(new Error(reply.error));
      else waiter?.resolve(reply);
    });
    worker.on('error', (err) => this.#failAll(err));
    worker.on('exit', (code) => {
      this.#exited = true;
      this.#failAll(new Error(`load worker exited with code ${code}`));
    });
  }

  static start(data: ClientData): LoadClients {
    // Registers tsx inside the worker (as src/router/thread-transport.ts does), then loads the TypeScript entry.
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./tenants-worker.ts', import.meta.url).href;
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    const clients = new LoadClients(new Worker(code, { eval: true, workerData: data }));
    onCleanup('load clients', () => clients.close());
    return clients;
  }

  async connect(pool: string, port: number, login: Login, count: number): Promise<void> {
    await this.#send({ op: 'connect', pool, port, login, count });
  }

  async run(jobs: Job[]): Promise<LoadStats[]> {
    return (await this.#send({ op: 'run', jobs })).stats!;
  }

  /** Ends every connection, then the worker. */
  async close(): Promise<void> {
    await this.#send({ op: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }

  #send(request: RequestBody): Promise<Reply> {
    const id = this.#next++;
    if (this.#exited) return Promise.reject(new Error('load worker has exited'));
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  #failAll(err: Error): void {
    for (const waiter of this.#pending.values()) waiter.reject(err);
    this.#pending.clear();
  }
}

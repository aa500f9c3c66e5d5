// Runs shard replicas in worker_threads (default one worker per core) and talks to them. Shards are
// spread over the workers by count. Each worker has at most workerMaxInflight requests sent and
// workerMaxQueued waiting behind them; past that a request fails with 53400 instead of queueing
// without bound. A multi-shard batch's decision (decide) never waits and is never refused: the
// requests ahead of it may be writes held back by the very prepared record it decides, and there are
// no more decides than admitted prepares. Prepares themselves wait in order with everything else,
// which is safe: a prepare waits for nothing but its own append, and the queue is first in, first
// out, so every worker sends the parts of batches in the same order (no cycle of waits).
import { availableParallelism } from 'node:os';
import { Worker, type Transferable } from 'node:worker_threads';
import type { Config } from '../config.ts';
import type { IndexSpec } from '../engine/vector-index.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { fromWire, type Request, type Response, type Results, type WorkerData } from './worker-protocol.ts';

interface Call { rid: number; req: Request; transfer: Transferable[]; resolve: (v: unknown) => void; reject: (e: unknown) => void }

class WorkerSlot {
  readonly worker: Worker;
  readonly calls = new Map<number, Call>();
  readonly queue: Call[] = [];
  shards = 0;
  failure: VectorgateError | null = null;
  constructor(worker: Worker) { this.worker = worker; }
}

export class ShardHost {
  readonly #config: Config;
  readonly #slots: WorkerSlot[];
  readonly #placement = new Map<string, WorkerSlot>();
  #nextRid = 1;

  constructor(config: Config) {
    this.#config = config;
    const count = config.shardWorkers === 0 ? availableParallelism() : config.shardWorkers;
    this.#slots = Array.from({ length: count }, () => this.#spawn());
  }

  get workerCount(): number { return this.#slots.length; }

  /** Opens a shard replica on the least loaded worker. */
  async open(shard: string, dir: string, spec: IndexSpec, committed: number[] = []): Promise<void> {
    const slot = this.#slots.reduce((a, b) => (b.shards < a.shards ? b : a));
    this.#placement.set(shard, slot);
    slot.shards++;
    try {
      await this.#send(slot, { type: 'open', shard, dir, spec, committed }, []);
    } catch (err) {
      this.#placement.delete(shard);
      slot.shards--;
      throw err;
    }
  }

  async closeShard(shard: string): Promise<void> {
    const slot = this.#placement.get(shard);
    if (slot === undefined) return;
    await this.#send(slot, { type: 'close', shard }, []);
    this.#placement.delete(shard);
    slot.shards--;
  }

  /** Sends a request for an open shard; `transfer` lists buffers handed over to the worker. */
  call<R extends Exclude<Request, { type: 'open' | 'close' }>>(req: R, transfer: Transferable[] = []): Promise<Results[R['type']]> {
    const slot = this.#placement.get(req.shard);
    if (slot === undefined) return Promise.reject(new VectorgateError(SqlState.InternalError, `shard ${req.shard} is not open`));
    return this.#send(slot, req, transfer) as Promise<Results[R['type']]>;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#placement.keys()].map((shard) => this.closeShard(shard)));
    await Promise.all(this.#slots.map((slot) => slot.worker.terminate()));
  }

  #spawn(): WorkerSlot {
    const workerData = { config: this.#config } satisfies WorkerData;
    const worker = import.meta.url.endsWith('.js')
      // Compiled (dist/): the worker's module sits beside this one.
      ? new Worker(new URL('./shard-worker.js', import.meta.url), { workerData })
      // Sources: tsx may be registered through the API (bin/vectorgate.js) rather than --import, which
      // workers would inherit: register it inside the worker before loading the TypeScript entry.
      : new Worker(tsxEntry(new URL('./shard-worker.ts', import.meta.url).href), { eval: true, workerData });
    const slot = new WorkerSlot(worker);
    worker.on('message', (res: Response) => this.#settle(slot, res));
    worker.on('error', (err) => this.#fail(slot, err));
    worker.on('exit', (code) => this.#fail(slot, new Error(`shard worker exited with code ${code}`)));
    return slot;
  }

  #send(slot: WorkerSlot, req: Request, transfer: Transferable[]): Promise<unknown> {
    if (slot.failure !== null) return Promise.reject(slot.failure);
    return new Promise((resolve, reject) => {
      const call: Call = { rid: this.#nextRid++, req, transfer, resolve, reject };
      if (slot.calls.size < this.#config.workerMaxInflight || req.type === 'decide') return this.#post(slot, call);
      if (slot.queue.length >= this.#config.workerMaxQueued) {
        return reject(new VectorgateError(SqlState.ConfigurationLimitExceeded,
          `shard worker queue is full (${this.#config.workerMaxQueued} requests waiting)`));
      }
      slot.queue.push(call);
    });
  }

  #post(slot: WorkerSlot, call: Call): void {
    slot.calls.set(call.rid, call);
    slot.worker.postMessage({ rid: call.rid, req: call.req }, call.transfer);
  }

  #settle(slot: WorkerSlot, res: Response): void {
    const call = slot.calls.get(res.rid);
    if (call === undefined) return;
    slot.calls.delete(res.rid);
    if (res.ok) call.resolve(res.value); else call.reject(fromWire(res.error));
    if (slot.calls.size >= this.#config.workerMaxInflight) return;
    const next = slot.queue.shift();
    if (next !== undefined) this.#post(slot, next);
  }

  #fail(slot: WorkerSlot, err: unknown): void {
    if (slot.failure !== null) return;
    slot.failure = new VectorgateError(SqlState.InternalError, `shard worker failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    for (const call of [...slot.calls.values(), ...slot.queue.splice(0)]) call.reject(slot.failure);
    slot.calls.clear();
  }
}

function tsxEntry(entry: string): string {
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
}

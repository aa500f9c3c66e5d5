// ShardTransport over worker_threads in this process (the embedded default; default one thread per
// core). Shards are spread over the threads by count. Each thread has at most workerMaxInflight
// requests sent and workerMaxQueued waiting behind them; past that a request fails with 53400 instead
// of queueing without bound. A multi-shard batch's decision (decide) never waits and is never refused:
// the requests ahead of it may be writes held back by the very prepared record it decides, and there
// are no more decides than admitted prepares. Prepares themselves wait in order with everything else,
// which is safe: a prepare waits for nothing but its own append, and the queue is first in, first
// out, so every thread sends the parts of batches in the same order (no cycle of waits).
// A thread that dies (a crash, process.exit in it, out of memory) is restarted: the requests it was
// answering fail (their outcome is unknown, like a broken connection's), the ones still queued wait,
// and its shards are reopened on the new thread (snapshot + log replay) — at most
// workerMaxRestartsPerMinute times a minute, after which its shards fail until the proxy restarts.
// A shard is reopened only once every prepare it acknowledged has its decision (bounded by
// workerReopenDecisionWaitMs): its recovery then knows whether the batch committed, and the decide
// queued behind the reopen answers the seq the replay applied it at.
import { availableParallelism } from 'node:os';
import { Worker, type Transferable } from 'node:worker_threads';
import type { Config } from '../config.ts';
import type { IndexSpec } from '../engine/vector-index.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import { closedError, type HealthEvent, type ShardRequest, type ShardTransport } from './shard-transport.ts';
import { fromWire, type Request, type Response, type Results, type WorkerData } from './worker-protocol.ts';

interface Call { rid: number; req: Request; transfer: Transferable[]; resolve: (v: unknown) => void; reject: (e: unknown) => void }
interface OpenShard {
  dir: string;
  spec: IndexSpec;
  committed: number[];
  /** Txids of acknowledged prepares whose decide has not been sent yet. */
  inDoubt: Set<number>;
  /** Called once inDoubt is empty (a reopen waiting for decisions). */
  onDecided: (() => void) | null;
}

export interface ThreadTransportOptions {
  /** Where a dead thread is reported; default: a logger at config.logLevel. */
  log?: Logger;
  /** The committed txids a shard's recovery needs now (a restart reopens it); default: those it was opened with. */
  committedOf?: (shard: string) => number[];
}

class ThreadSlot {
  readonly index: number;
  worker!: Worker;
  readonly calls = new Map<number, Call>();
  readonly queue: Call[] = [];
  readonly shards = new Map<string, OpenShard>();
  /** Not null while the thread's shards are being reopened: calls queue meanwhile. */
  restarting: Promise<void> | null = null;
  /** Set when the thread cannot be restarted: every call fails with it. */
  failure: VectorgateError | null = null;
  /** When it died, for the restart limit (the last minute's). */
  deaths: number[] = [];
  constructor(index: number) { this.index = index; }
}

export class ThreadTransport implements ShardTransport {
  readonly hostsReplicas = true;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #committedOf: ((shard: string) => number[]) | undefined;
  readonly #slots: ThreadSlot[];
  readonly #placement = new Map<string, ThreadSlot>();
  readonly #listeners = new Set<(event: HealthEvent) => void>();
  /** Shards whose reopen after a restart failed, with why. */
  readonly #broken = new Map<string, VectorgateError>();
  #nextRid = 1;
  #closing = false;

  constructor(config: Config, options: ThreadTransportOptions = {}) {
    this.#config = config;
    this.#log = options.log ?? createLogger(config.logLevel);
    this.#committedOf = options.committedOf;
    const count = config.shardWorkers === 0 ? availableParallelism() : config.shardWorkers;
    this.#slots = Array.from({ length: count }, (_, i) => this.#spawn(new ThreadSlot(i)));
  }

  get workerCount(): number { return this.#slots.length; }

  /** Opens a shard replica on the least loaded thread. */
  async open(shard: string, dir: string, spec: IndexSpec, committed: number[] = []): Promise<void> {
    if (this.#closing) throw closedError();
    const slot = this.#slots.reduce((a, b) => (b.shards.size < a.shards.size ? b : a));
    this.#placement.set(shard, slot);
    slot.shards.set(shard, { dir, spec, committed, inDoubt: new Set(), onDecided: null });
    try {
      await this.#send(slot, { type: 'open', shard, dir, spec, committed }, []);
    } catch (err) {
      this.#forget(shard);
      throw err;
    }
  }

  async closeShard(shard: string): Promise<void> {
    const slot = this.#placement.get(shard);
    if (slot === undefined) return;
    try {
      if (!this.#broken.has(shard)) await this.#send(slot, { type: 'close', shard }, []);
    } finally {
      this.#forget(shard);
    }
  }

  call<R extends ShardRequest>(req: R, transfer: Transferable[] = []): Promise<Results[R['type']]> {
    if (this.#closing) return Promise.reject(closedError());
    const slot = this.#placement.get(req.shard);
    if (slot === undefined) return Promise.reject(new VectorgateError(SqlState.InternalError, `shard ${req.shard} is not open`));
    const broken = this.#broken.get(req.shard);
    if (broken !== undefined) return Promise.reject(broken);
    const open = slot.shards.get(req.shard)!;
    if (req.type === 'decide') this.#decided(open, req.txid);
    const sent = this.#send(slot, req, transfer) as Promise<Results[R['type']]>;
    if (req.type !== 'prepare') return sent;
    return sent.then((seq) => { open.inDoubt.add(req.txid); return seq; });
  }

  #decided(open: OpenShard, txid: number): void {
    open.inDoubt.delete(txid);
    if (open.inDoubt.size > 0 || open.onDecided === null) return;
    open.onDecided();
    open.onDecided = null;
  }

  /** Resolves once every acknowledged prepare of the shard has its decision, or after workerReopenDecisionWaitMs. */
  #decisionsOf(shard: string, open: OpenShard): Promise<void> {
    if (open.inDoubt.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        open.onDecided = null;
        this.#log.warn({ shard, txids: [...open.inDoubt] }, 'reopening a shard before the decisions of its prepared batches arrived');
        resolve();
      }, this.#config.workerReopenDecisionWaitMs);
      open.onDecided = () => { clearTimeout(timer); resolve(); };
    });
  }

  onHealth(listener: (event: HealthEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Ends the thread that hosts shard as a crash would (tests; an operator's last resort): it is restarted. */
  async terminateThreadOf(shard: string): Promise<void> {
    const slot = this.#placement.get(shard);
    if (slot === undefined) throw new VectorgateError(SqlState.InternalError, `shard ${shard} is not open`);
    await slot.worker.terminate();
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await Promise.allSettled(this.#slots.map((slot) => slot.restarting));
    await Promise.allSettled([...this.#placement.keys()].map((shard) => this.closeShard(shard)));
    await Promise.all(this.#slots.map((slot) => slot.worker.terminate()));
  }

  #forget(shard: string): void {
    this.#placement.get(shard)?.shards.delete(shard);
    this.#placement.delete(shard);
    this.#broken.delete(shard);
  }

  #spawn(slot: ThreadSlot): ThreadSlot {
    const workerData = { config: this.#config } satisfies WorkerData;
    const worker = import.meta.url.endsWith('.js')
      // Compiled (dist/): the worker's module sits beside this one.
      ? new Worker(new URL('./shard-worker.js', import.meta.url), { workerData })
      // Sources: tsx may be registered through the API (bin/vectorgate.js) rather than --import, which
      // workers would inherit: register it inside the worker before loading the TypeScript entry.
      : new Worker(tsxEntry(new URL('./shard-worker.ts', import.meta.url).href), { eval: true, workerData });
    slot.worker = worker;
    let died = false;
    const death = (reason: string): void => {
      if (died) return;
      died = true;
      this.#onDeath(slot, reason);
    };
    worker.on('message', (res: Response) => this.#settle(slot, res));
    worker.on('error', (err) => death(err.message));
    worker.on('exit', (code) => death(`exited with code ${code}`));
    return slot;
  }

  #send(slot: ThreadSlot, req: Request, transfer: Transferable[]): Promise<unknown> {
    if (slot.failure !== null) return Promise.reject(slot.failure);
    return new Promise((resolve, reject) => {
      const call: Call = { rid: this.#nextRid++, req, transfer, resolve, reject };
      const ready = slot.restarting === null;
      if (ready && (slot.calls.size < this.#config.workerMaxInflight || req.type === 'decide')) return this.#post(slot, call);
      if (slot.queue.length >= this.#config.workerMaxQueued && req.type !== 'decide') {
        return reject(new VectorgateError(SqlState.ConfigurationLimitExceeded,
          `shard worker queue is full (${this.#config.workerMaxQueued} requests waiting)`));
      }
      slot.queue.push(call);
    });
  }

  #post(slot: ThreadSlot, call: Call): void {
    slot.calls.set(call.rid, call);
    slot.worker.postMessage({ rid: call.rid, req: call.req }, call.transfer);
  }

  #settle(slot: ThreadSlot, res: Response): void {
    const call = slot.calls.get(res.rid);
    if (call === undefined) return;
    slot.calls.delete(res.rid);
    if (res.ok) call.resolve(res.value); else call.reject(fromWire(res.error));
    this.#drainQueue(slot);
  }

  #drainQueue(slot: ThreadSlot): void {
    while (slot.restarting === null && slot.calls.size < this.#config.workerMaxInflight) {
      const next = slot.queue.shift();
      if (next === undefined) return;
      this.#post(slot, next);
    }
  }

  #onDeath(slot: ThreadSlot, reason: string): void {
    const host = `thread-${slot.index}`;
    for (const call of slot.calls.values()) {
      call.reject(new VectorgateError(SqlState.InternalError,
        `shard worker ${host} died (${reason}) while answering a ${call.req.type} request for shard ${call.req.shard}; its outcome is unknown`));
    }
    slot.calls.clear();
    if (this.#closing) return this.#failQueue(slot, closedError());
    const shards = [...slot.shards.keys()];
    this.#log.error({ thread: slot.index, reason, shards }, 'shard worker thread died');
    this.#emit({ kind: 'down', host, shards, reason });
    const now = Date.now();
    slot.deaths = [...slot.deaths.filter((t) => now - t < 60_000), now];
    if (slot.deaths.length > this.#config.workerMaxRestartsPerMinute) {
      slot.failure = new VectorgateError(SqlState.InternalError,
        `shard worker ${host} died ${slot.deaths.length} times within a minute (last: ${reason}); ` +
        `its shards (${shards.join(', ')}) are unavailable until vectorgate restarts`);
      this.#log.error({ thread: slot.index, reason, shards }, 'shard worker thread keeps dying; not restarting it');
      return this.#failQueue(slot, slot.failure);
    }
    const restarting: Promise<void> = this.#restart(slot, reason).finally(() => {
      // A thread that died while its shards were reopened was restarted again: that restart's turn.
      if (slot.restarting !== restarting) return;
      slot.restarting = null;
      this.#drainQueue(slot);
    });
    slot.restarting = restarting;
  }

  /** A new thread in the slot, with every shard the old one held reopened. */
  async #restart(slot: ThreadSlot, reason: string): Promise<void> {
    const host = `thread-${slot.index}`;
    const worker = this.#spawn(slot).worker;
    const shards = [...slot.shards];
    const reopened = await Promise.allSettled(shards.map(async ([shard, open]) => {
      await this.#decisionsOf(shard, open);
      // The new thread died meanwhile: the restart after it reopens the shard.
      if (slot.worker !== worker) return;
      const committed = this.#committedOf?.(shard) ?? open.committed;
      const { dir, spec } = open;
      await new Promise((resolve, reject) => {
        this.#post(slot, { rid: this.#nextRid++, req: { type: 'open', shard, dir, spec, committed }, transfer: [], resolve, reject });
      });
    }));
    if (slot.worker !== worker || slot.failure !== null) return;
    reopened.forEach((result, i) => {
      if (result.status === 'fulfilled') return;
      const shard = shards[i]![0];
      const why = result.reason instanceof Error ? result.reason.message : String(result.reason);
      this.#broken.set(shard, new VectorgateError(SqlState.InternalError,
        `shard ${shard} could not be reopened after its worker ${host} died (${reason}): ${why}`, { cause: result.reason }));
      this.#log.error({ thread: slot.index, shard, err: why }, 'reopening a shard after its thread died failed');
    });
    this.#log.info({ thread: slot.index, shards: shards.map(([s]) => s) }, 'shard worker thread restarted');
    this.#emit({ kind: 'up', host, shards: shards.map(([s]) => s), reason: `restarted after it ${reason}` });
  }

  #failQueue(slot: ThreadSlot, err: VectorgateError): void {
    for (const call of slot.queue.splice(0)) call.reject(err);
  }

  #emit(event: HealthEvent): void {
    for (const listener of this.#listeners) {
      try { listener(event); } catch (err) { this.#log.error({ err }, 'a health listener threw'); }
    }
  }
}

function tsxEntry(entry: string): string {
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
}

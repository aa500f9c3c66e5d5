// Shard replicas on the proxy's own thread (config shardHost 'inline', the embedded default): a
// ReplicaHost called directly, so a search is a function call, not a hop to a thread that must wake.
// What would block the thread long is bounded: index building runs in steps of inlineIndexStepRows
// rows (ShardReplica), and a search's work by maxK, maxEf and maxSearchCandidates. A replica that
// fails to apply its log fails its own calls; nothing here can die apart from the proxy, so there are
// no health events.
import type { Config } from '../config.ts';
import type { IndexSpec } from '../engine/vector-index.ts';
import { openLocalLog } from './local-log.ts';
import { ReplicaHost } from './replica-host.ts';
import { closedError, type HealthEvent, type ShardRequest, type ShardTransport } from './shard-transport.ts';
import { fromWire, toWire, type Request, type Results } from './worker-protocol.ts';

type SearchRequest = Extract<Request, { type: 'search' }>;
interface Waiting { req: SearchRequest; resolve: (value: unknown) => void; reject: (err: unknown) => void }

export class InProcessTransport implements ShardTransport {
  readonly hostsReplicas = true;
  readonly #host: ReplicaHost;
  readonly #maxBatch: number;
  /** Unfiltered searches waiting for the end of this event-loop turn, by shard, k and options. */
  readonly #pending = new Map<string, Waiting[]>();
  #flushing: NodeJS.Immediate | null = null;
  #closing = false;

  constructor(config: Config) {
    this.#host = new ReplicaHost(config, (shardDir) => openLocalLog(shardDir, config), { indexStepRows: config.inlineIndexStepRows });
    this.#host.startSnapshotTimer();
    this.#maxBatch = config.searchBatchMaxQueries;
  }

  async open(shard: string, dir: string, spec: IndexSpec, committed: number[] = []): Promise<void> {
    if (this.#closing) throw closedError();
    await this.#handle({ type: 'open', shard, dir, spec, committed });
  }

  async closeShard(shard: string): Promise<void> {
    await this.#handle({ type: 'close', shard });
  }

  call<R extends ShardRequest>(req: R): Promise<Results[R['type']]> {
    if (this.#closing) return Promise.reject(closedError());
    if (req.type === 'search' && (req.options.filter === undefined || req.options.filter === null)) {
      return this.#batched(req) as Promise<Results[R['type']]>;
    }
    return this.#handle(req) as Promise<Results[R['type']]>;
  }

  /**
   * Unfiltered searches that arrive in the same event-loop turn (several sessions' queries read
   * together) wait for its end and are answered by one index call per shard, k and options
   * (usearch batch search, over every core). A search alone is
   * answered as it would be at once.
   */
  #batched(req: SearchRequest): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const key = `${req.shard}\u0000${req.k}\u0000${JSON.stringify(req.options)}`;
      const group = this.#pending.get(key) ?? [];
      if (group.length === 0) this.#pending.set(key, group);
      group.push({ req, resolve, reject });
      if (group.length >= this.#maxBatch) this.#flush(key);
      else this.#flushing ??= setImmediate(() => this.#flushAll());
    });
  }

  #flushAll(): void {
    this.#flushing = null;
    for (const key of [...this.#pending.keys()]) this.#flush(key);
  }

  #flush(key: string): void {
    const group = this.#pending.get(key);
    this.#pending.delete(key);
    if (group === undefined || group.length === 0) return;
    const answers = group.length > 1 ? this.#host.searchMany(group.map((g) => g.req)) : null;
    if (answers === null) {
      for (const g of group) this.#handle(g.req).then(g.resolve, g.reject);
      return;
    }
    group.forEach((g, i) => {
      const answer = answers[i]!;
      if (answer instanceof Error) g.reject(fromWire(toWire(answer)));
      else g.resolve(answer);
    });
  }

  /** Errors as a thread's arrive: a VectorgateError as it is, anything else as 'internal error' (XX000). */
  #handle(req: Request): Promise<unknown> {
    return this.#host.handle(req).catch((err: unknown) => { throw fromWire(toWire(err)); });
  }

  onHealth(_listener: (event: HealthEvent) => void): () => void {
    return () => undefined;
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.#flushing !== null) clearImmediate(this.#flushing);
    this.#flushAll();
    await this.#host.close();
  }
}

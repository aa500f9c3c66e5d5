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

export class InProcessTransport implements ShardTransport {
  readonly hostsReplicas = true;
  readonly #host: ReplicaHost;
  #closing = false;

  constructor(config: Config) {
    this.#host = new ReplicaHost(config, (shardDir) => openLocalLog(shardDir, config), { indexStepRows: config.inlineIndexStepRows });
    this.#host.startSnapshotTimer();
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
    return this.#handle(req) as Promise<Results[R['type']]>;
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
    await this.#host.close();
  }
}

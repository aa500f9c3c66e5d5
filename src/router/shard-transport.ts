// The seam between the router and shard replicas: the worker-protocol requests, and events about the
// health of what hosts them. Two implementations, one contract (test/router/shard-transport-contract.ts):
// - worker_threads in this process (thread-transport.ts, the embedded default): `open` places a shard
//   on a thread; a thread that dies is restarted and its shards reopened (snapshot + log replay);
// - gRPC to `vectorgate worker` processes (src/cluster/grpc-transport.ts): the placement controller
//   decides which workers hold a shard's replicas, so `open` waits (bounded) until one serves it, and
//   a call goes to a live replica that satisfies the request's read bound, another one on failure.
import type { Transferable } from 'node:worker_threads';
import type { IndexSpec } from '../engine/vector-index.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import type { Request, Results } from './worker-protocol.ts';

/** A request for a shard that is open (everything but open and close). */
export type ShardRequest = Exclude<Request, { type: 'open' | 'close' }>;

/** Something that hosts replicas went down or came back; shards: the keys it held. */
export interface HealthEvent {
  kind: 'down' | 'up';
  /** A thread index or a worker id. */
  host: string;
  shards: string[];
  reason: string;
}

export interface ShardTransport {
  /**
   * The replicas live behind this transport, in this process (threads): the router snapshots them at
   * shutdown. Worker processes snapshot their own replicas (gRPC).
   */
  readonly hostsReplicas: boolean;
  /** Makes the shard reachable: opens it (threads) or waits until a replica serves it (cluster). */
  open(shard: string, dir: string, spec: IndexSpec, committed: number[]): Promise<void>;
  /** The shard is no longer used by this router (threads: closed; cluster: forgotten). */
  closeShard(shard: string): Promise<void>;
  /** One request to one replica of req.shard; `transfer` lists buffers handed over (threads). */
  call<R extends ShardRequest>(req: R, transfer?: Transferable[]): Promise<Results[R['type']]>;
  /** Subscribes to health events; returns the unsubscribe function. */
  onHealth(listener: (event: HealthEvent) => void): () => void;
  close(): Promise<void>;
}

/** What a call or open on a closed transport gets. */
export function closedError(): VectorgateError {
  return new VectorgateError(SqlState.AdminShutdown, 'the shard transport is closed');
}

// A minimal etcd client factory for the catalog and the quota store: every unary call gets a deadline
// (etcd3 sets none by default, field notes), the gRPC receive limit is raised, and a failure of etcd
// itself becomes 08006 naming the endpoints. The etcd-log part's src/storage/etcd-client.ts is meant to
// replace this file once both are merged.
import { Etcd3, EtcdError } from 'etcd3';
import { SqlState, VectorgateError } from '../errors.ts';

/** gRPC's receive limit for one reply (etcd3's default is 4 MiB; a page of records can exceed it). */
const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;

export interface EtcdCallSettings {
  endpoints: string[];
  /** Deadline of each unary call. */
  callTimeoutMs: number;
}

export function createEtcdClient(settings: EtcdCallSettings): Etcd3 {
  if (settings.endpoints.length === 0) throw new RangeError('etcd needs at least one endpoint');
  return new Etcd3({
    hosts: settings.endpoints,
    dialTimeout: settings.callTimeoutMs,
    grpcOptions: { 'grpc.max_receive_message_length': MAX_RECEIVE_BYTES },
    // Streams (watches, lease keep-alives) live long; every other call ends by its deadline.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + settings.callTimeoutMs }),
  });
}

/** A VectorgateError passes; anything else from a call to etcd means etcd did not answer (08006). */
export function etcdFailure(err: unknown, endpoints: readonly string[]): VectorgateError {
  if (err instanceof VectorgateError) return err;
  const reason = err instanceof EtcdError || err instanceof Error ? err.message : String(err);
  return new VectorgateError(SqlState.ConnectionFailure, `etcd is unreachable: ${reason}`, {
    detail: `endpoints: ${endpoints.join(', ')}`,
    cause: err,
  });
}

/** Runs one etcd call; its failure becomes 08006 (see etcdFailure). */
export async function etcdCall<T>(endpoints: readonly string[], call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw etcdFailure(err, endpoints);
  }
}

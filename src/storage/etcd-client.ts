// The etcd client every etcd-backed store uses, configured for what vectorgate needs rather than
// etcd3's defaults (field notes, etcd rows):
// - no retries inside the client: etcd3's default policy re-sends a failed call up to 3 times, which
//   can apply a plain put twice, and its per-host circuit breaker refuses calls for 5 s after 3
//   failures (a member restart would then look like an outage). Callers retry themselves, knowing
//   which calls are idempotent (the log's guarded transactions, made idempotent by request id);
// - a gRPC receive limit above the largest page the log reads (grpc-js defaults to 4 MiB);
// - keepalive pings, so a connection cut without a FIN is noticed, and short reconnect backoff;
// - a deadline on every call (etcd3 sets none): withDeadline().
import { setTimeout as sleep } from 'node:timers/promises';
import type { CallOptions } from '@grpc/grpc-js';
import { Etcd3, type IOptions } from 'etcd3';
import { fixEtcd3Watch } from './etcd3-watch-fix.ts';
import { etcdUnreachable, SqlState, toVectorgateError, VectorgateError } from '../errors.ts';

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/** A cockatiel-shaped policy that runs the call once and passes its failure on. */
const CALL_ONCE = {
  onSuccess: () => ({ dispose() {} }),
  onFailure: () => ({ dispose() {} }),
  execute: <T>(fn: (context: { signal: AbortSignal; attempt: number }) => PromiseLike<T> | T, signal?: AbortSignal) =>
    Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal, attempt: 1 })),
} as unknown as Policy;

export interface EtcdClientOptions {
  /** Client URLs of the members, e.g. http://127.0.0.1:2379. */
  endpoints: readonly string[];
  /** grpc.max_receive_message_length (config etcdMaxReceiveBytes). */
  maxReceiveBytes: number;
  /** Deadline of one call (config etcdCallTimeoutMs). */
  callTimeoutMs: number;
}

/** An etcd3 client and the endpoints and deadline its callers need to report failures. */
export interface EtcdConnection {
  readonly client: Etcd3;
  readonly endpoints: readonly string[];
  readonly callTimeoutMs: number;
}

export function createEtcdClient(options: EtcdClientOptions): EtcdConnection {
  if (options.endpoints.length === 0) throw new RangeError('no etcd endpoints given');
  fixEtcd3Watch();
  const client = new Etcd3({
    hosts: [...options.endpoints],
    dialTimeout: options.callTimeoutMs,
    faultHandling: { global: CALL_ONCE, host: () => CALL_ONCE },
    grpcOptions: {
      'grpc.max_receive_message_length': options.maxReceiveBytes,
      'grpc.max_send_message_length': options.maxReceiveBytes,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
    },
  });
  return { client, endpoints: [...options.endpoints], callTimeoutMs: options.callTimeoutMs };
}

/**
 * Runs one etcd call with a deadline of `ms` (passed to gRPC, and enforced here too in case the call
 * waits before reaching gRPC). A failure that means etcd could not be reached or did not answer in
 * time — the outcome of a write is then unknown — becomes 08006 naming the endpoints; anything else
 * is passed on as a VectorgateError.
 */
export async function withDeadline<T>(conn: EtcdConnection, ms: number, action: string, call: (options: CallOptions) => Promise<T>): Promise<T> {
  const timeoutMs = Math.max(1, Math.min(ms, conn.callTimeoutMs));
  const deadlineMs = Date.now() + timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await Promise.race([call({ deadline: deadlineMs }), timeout]);
      } catch (err) {
        // etcd3 sends each call to one member it picks at random and, its own retries being off,
        // fails the call when that member is down. A call that never left this process (no
        // connection to that member) is safe to send again, whatever it does: another pick may reach
        // a live member, so a minority of members down costs no failed calls.
        if (!neverSent(err) || attempt >= conn.endpoints.length * UNSENT_ATTEMPTS_PER_MEMBER || Date.now() >= deadlineMs) throw err;
        await sleep(Math.min(UNSENT_RETRY_MS * attempt, Math.max(0, deadlineMs - Date.now())));
      }
    }
  } catch (err) {
    throw etcdError(err, conn.endpoints, action);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends of a call that did not reach any member, per member, before the failure is reported. */
const UNSENT_ATTEMPTS_PER_MEMBER = 3;
const UNSENT_RETRY_MS = 5;

/** The call failed before it was sent: no connection to the member picked for it. */
function neverSent(err: unknown): boolean {
  return err instanceof Error && /No connection established|ECONNREFUSED/.test(err.message);
}

/** True for etcd's ErrCompacted: a read at a revision that compaction has removed (read at the newest instead). */
export function isCompacted(err: unknown): boolean {
  const cause = err instanceof VectorgateError ? err.cause : err;
  return cause instanceof Error && /required revision has been compacted/.test(cause.message);
}

/** A failed etcd call as a VectorgateError: 08006 naming the endpoints when etcd could not be reached or did not answer. */
export function etcdError(err: unknown, endpoints: readonly string[], action: string): VectorgateError {
  return isUnreachable(err) ? etcdUnreachable(err, endpoints, action) : asVectorgateError(err, action);
}

/** True for an error from withDeadline that leaves a write's outcome unknown. */
export function isUnknownOutcome(err: unknown): boolean {
  return err instanceof VectorgateError && err.code === SqlState.ConnectionFailure;
}

// Names of etcd3's error classes (lib/errors.ts) and etcd server messages that mean "no answer from
// a quorum": https://github.com/etcd-io/etcd/blob/v3.4.23/etcdserver/errors.go
const UNREACHABLE_ERRORS = new Set(['GRPCUnavailableError', 'GRPCDeadlineExceededError', 'GRPCCancelledError', 'GRPCInternalError', 'EtcdWatchStreamEnded']);
const UNREACHABLE_MESSAGES = /no answer within|timed out|leader changed|no leader|not capable|connection|ECONNREFUSED|ECONNRESET|unavailable|deadline/i;

function isUnreachable(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof VectorgateError) return false;
  return UNREACHABLE_ERRORS.has(err.constructor.name) || UNREACHABLE_MESSAGES.test(err.message);
}

function asVectorgateError(err: unknown, action: string): VectorgateError {
  if (err instanceof VectorgateError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/database space exceeded/.test(message)) {
    return new VectorgateError(SqlState.ConfigurationLimitExceeded, `etcd refused to ${action}: its database is full (NOSPACE alarm)`, { cause: err });
  }
  return toVectorgateError(err);
}

// The gRPC service between proxies and `vectorgate worker` processes, defined in code with our own
// byte codec (worker-codec.ts), so there is no .proto build step:
//   vectorgate.Worker/Call      unary          a worker-protocol Request → its Results[type] or a WireError
//   vectorgate.Worker/Snapshot  server stream  { shard } → the shard's newest snapshot files in chunks, then the seq they cover
//   vectorgate.Worker/Ping      unary          → { pid, startedAt } (liveness, and a cheap round trip)
// Both ends share the options below: message size limits, keepalive, reconnect backoff.
// https://grpc.github.io/grpc/core/group__grpc__arg__keys.html
import type { ChannelOptions, ServiceDefinition } from '@grpc/grpc-js';
import type { Config } from '../config.ts';
import type { FrameLimits } from './worker-frame.ts';

const identity = (data: Buffer): Buffer => data;
const method = (name: string, responseStream: boolean) => ({
  path: `/vectorgate.Worker/${name}`, requestStream: false, responseStream,
  requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
});

export const WORKER_SERVICE = {
  Call: method('Call', false),
  Snapshot: method('Snapshot', true),
  Ping: method('Ping', false),
} satisfies ServiceDefinition;

/** What frames the worker sends: replies at least grpcGzipMinBytes are gzip'd (grpc-js cannot compress replies itself). */
export function replyLimits(config: Config): FrameLimits {
  return { maxBytes: config.grpcMaxMessageBytes, gzipMinBytes: config.grpcGzipMinBytes };
}

/** What frames the proxy sends: requests are small (searches) or go to etcd (writes), so never gzip'd. */
export function requestLimits(config: Config): FrameLimits {
  return { maxBytes: config.grpcMaxMessageBytes, gzipMinBytes: 0 };
}

function sharedOptions(config: Config): ChannelOptions {
  return {
    'grpc.max_receive_message_length': config.grpcMaxMessageBytes,
    'grpc.max_send_message_length': config.grpcMaxMessageBytes,
    'grpc.keepalive_time_ms': config.grpcKeepaliveTimeMs,
    'grpc.keepalive_timeout_ms': config.grpcKeepaliveTimeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
  };
}

export function serverOptions(config: Config): ChannelOptions {
  return { ...sharedOptions(config), 'grpc.max_concurrent_streams': config.grpcMaxConcurrentCalls };
}

export function clientOptions(config: Config): ChannelOptions {
  return {
    ...sharedOptions(config),
    // A worker that comes back is reached again within this long, not after gRPC's default 120 s backoff.
    'grpc.initial_reconnect_backoff_ms': Math.min(100, config.grpcReconnectMaxBackoffMs),
    'grpc.max_reconnect_backoff_ms': config.grpcReconnectMaxBackoffMs,
  };
}

// A proxy's client of one `vectorgate worker` (service: worker-service.ts): one gRPC channel per
// worker address, reused by every call and kept alive with HTTP/2 pings, and a deadline on every call
// (the caller's remaining statement time, else grpcCallTimeoutMs). It knows nothing of placement: the
// gRPC transport picks the worker. Failures are VectorgateErrors: the worker's own (its SQLSTATE, as a
// thread would give), 08006 naming the address when the worker cannot be reached or dies mid-call,
// 57014 when the deadline passes. After a worker restarts on the same address the same client
// reaches it again (reconnect backoff at most grpcReconnectMaxBackoffMs).
import * as grpc from '@grpc/grpc-js';
import type { Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { fromWire, type Request, type Results } from '../router/worker-protocol.ts';
import type { SnapshotRef } from '../storage/snapshot.ts';
import { receiveSnapshot } from './snapshot-receive.ts';
import { decodeSnapshotMessage, encodeSnapshotRequest, type SnapshotMessage } from './snapshot-stream.ts';
import { decodeReply, encodeRequest } from './worker-codec.ts';
import { decodeFrame, encodeFrame, FrameKind, type FrameLimits } from './worker-frame.ts';
import { Fields } from './frame-fields.ts';
import { clientOptions, replyLimits, requestLimits, WORKER_SERVICE } from './worker-service.ts';

export interface WorkerCallOptions {
  /** The caller's remaining time (e.g. the statement's); default grpcCallTimeoutMs. */
  timeoutMs?: number;
}

export interface WorkerPing { pid: number; startedAt: number }

const identity = (data: Buffer): Buffer => data;

export class WorkerClient {
  readonly address: string;
  readonly #config: Config;
  readonly #client: grpc.Client;
  readonly #requests: FrameLimits;
  readonly #replies: FrameLimits;
  #closed = false;

  constructor(address: string, config: Config) {
    this.address = address;
    this.#config = config;
    this.#client = new grpc.Client(address, grpc.credentials.createInsecure(), clientOptions(config));
    this.#requests = requestLimits(config);
    this.#replies = replyLimits(config);
  }

  /** One worker-protocol request; resolves with its result or rejects with a VectorgateError. */
  async call<R extends Request>(req: R, options: WorkerCallOptions = {}): Promise<Results[R['type']]> {
    const reply = await this.#unary(WORKER_SERVICE.Call.path, encodeRequest(req, this.#requests), `${req.type} on shard ${req.shard}`, options);
    const decoded = decodeReply(req.type, reply, this.#replies);
    if (!decoded.ok) throw fromWire(decoded.error);
    return decoded.value as Results[R['type']];
  }

  async ping(options: WorkerCallOptions = {}): Promise<WorkerPing> {
    const ping = encodeFrame({ kind: FrameKind.Ping, fields: {}, blobs: [] }, this.#requests);
    const frame = decodeFrame(await this.#unary(WORKER_SERVICE.Ping.path, ping, 'ping', options), this.#replies);
    const f = Fields.of(frame.fields, 'ping reply');
    return { pid: f.count('pid'), startedAt: f.count('startedAt') };
  }

  /**
   * Copies the worker's newest snapshot of `shard` into `<intoDir>/snapshots/<seq>` (atomically:
   * temp directory, fsync, verify, rename); the deadline is grpcSnapshotTimeoutMs unless given.
   */
  async snapshot(shard: string, intoDir: string, options: WorkerCallOptions = {}): Promise<SnapshotRef> {
    const timeoutMs = this.#timeout(options, this.#config.grpcSnapshotTimeoutMs, 'snapshot');
    await this.#connected(Date.now() + timeoutMs);
    const stream = this.#client.makeServerStreamRequest<Buffer, Buffer>(WORKER_SERVICE.Snapshot.path, identity, identity,
      encodeSnapshotRequest(shard, this.#requests), { deadline: Date.now() + timeoutMs });
    // grpc-js ends the stream, then emits its status as 'error': kept here, so that an error before
    // the first read neither goes unhandled nor reads as a stream that merely ended early.
    let failure: grpc.ServiceError | null = null;
    stream.on('error', (err: grpc.ServiceError) => { failure = err; });
    const what = `snapshot of shard ${shard}`;
    const messages = this.#snapshotMessages(stream, () => failure, what, timeoutMs);
    try {
      return await receiveSnapshot(messages, intoDir, this.#config, this.address);
    } finally {
      stream.cancel();
    }
  }

  async *#snapshotMessages(stream: grpc.ClientReadableStream<Buffer>, failure: () => grpc.ServiceError | null, what: string, timeoutMs: number): AsyncGenerator<SnapshotMessage> {
    try {
      for await (const data of stream) yield decodeSnapshotMessage(data as Buffer, this.#replies);
    } catch (err) {
      throw err instanceof VectorgateError ? err : this.#transportError(err as grpc.ServiceError, what, timeoutMs);
    }
    const err = failure();
    if (err !== null) throw this.#transportError(err, what, timeoutMs);
  }

  /**
   * Whether the channel is connected now (no connection attempt is started by asking): a transport
   * choosing among replicas can prefer connected ones over one whose calls would first wait for a connection.
   */
  get connected(): boolean {
    return !this.#closed && this.#client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY;
  }

  /** Closes the channel; later calls fail with 08006. */
  close(): void {
    this.#closed = true;
    this.#client.close();
  }

  #timeout(options: WorkerCallOptions, fallbackMs: number, what: string): number {
    const timeoutMs = options.timeoutMs ?? fallbackMs;
    if (!(timeoutMs > 0)) throw new VectorgateError(SqlState.QueryCanceled, `${what} on worker ${this.address}: no time left before the deadline`);
    return timeoutMs;
  }

  async #unary(path: string, data: Buffer, what: string, options: WorkerCallOptions): Promise<Buffer> {
    if (this.#closed) throw this.#closedError();
    const timeoutMs = this.#timeout(options, this.#config.grpcCallTimeoutMs, what);
    const deadline = Date.now() + timeoutMs;
    await this.#connected(deadline);
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest<Buffer, Buffer>(path, identity, identity, data, { deadline }, (err, reply) => {
        if (err !== null) reject(this.#transportError(err, what, timeoutMs));
        else resolve(reply!);
      });
    });
  }

  /**
   * Waits (at most grpcConnectTimeoutMs, within the deadline) for the channel to be connected. gRPC
   * fails a call at once while its channel is in reconnect backoff, even when the worker is back;
   * waiting for one reconnect attempt instead makes a restarted worker reachable on the next call.
   */
  #connected(deadline: number): Promise<void> {
    if (this.#client.getChannel().getConnectivityState(true) === grpc.connectivityState.READY) return Promise.resolve();
    const connectMs = Math.min(this.#config.grpcConnectTimeoutMs, deadline - Date.now());
    return new Promise((resolve, reject) => {
      this.#client.waitForReady(Date.now() + connectMs, (err) => {
        if (err === undefined || err === null) return resolve();
        if (this.#closed) return reject(this.#closedError());
        reject(new VectorgateError(SqlState.ConnectionFailure, `worker ${this.address} is unreachable: no connection within ${connectMs} ms`, { cause: err }));
      });
    });
  }

  #closedError(): VectorgateError {
    return new VectorgateError(SqlState.ConnectionFailure, `the client of worker ${this.address} is closed`);
  }

  /** A gRPC status as the SQLSTATE the session sees. https://grpc.github.io/grpc/core/md_doc_statuscodes.html */
  #transportError(err: grpc.ServiceError, what: string, timeoutMs: number): VectorgateError {
    const details = err.details || err.message;
    switch (err.code) {
      case grpc.status.DEADLINE_EXCEEDED:
        return new VectorgateError(SqlState.QueryCanceled, `${what} on worker ${this.address} did not finish within ${timeoutMs} ms`, { cause: err });
      case grpc.status.RESOURCE_EXHAUSTED:
        return new VectorgateError(SqlState.ProgramLimitExceeded, `${what} on worker ${this.address}: ${details}`,
          { hint: 'grpcMaxMessageBytes bounds one gRPC message.', cause: err });
      default:
        if (this.#closed) return this.#closedError();
        return new VectorgateError(SqlState.ConnectionFailure, `worker ${this.address} is unreachable: ${details}`,
          { detail: `${what} failed with gRPC status ${grpc.status[err.code] ?? err.code}`, cause: err });
    }
  }
}

/** One WorkerClient per worker address, created on first use and reused. */
export class WorkerClients {
  readonly #config: Config;
  readonly #clients = new Map<string, WorkerClient>();

  constructor(config: Config) { this.#config = config; }

  get(address: string): WorkerClient {
    let client = this.#clients.get(address);
    if (client === undefined) {
      client = new WorkerClient(address, this.#config);
      this.#clients.set(address, client);
    }
    return client;
  }

  /** The worker at this address is gone for good (placement dropped it): close its channel. */
  drop(address: string): void {
    this.#clients.get(address)?.close();
    this.#clients.delete(address);
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }
}

// The gRPC server of a `vectorgate worker` process (service: worker-service.ts). It knows nothing of
// placement: Call hands each decoded Request to the given handler (the worker passes its replica
// host's), and a handler's failure travels back as a WireError, so the proxy gets the same
// VectorgateError (SQLSTATE, detail, hint) a worker thread would give. Snapshot streams the files of
// the snapshot that snapshotSource names for a shard.
import { readdir, open as openFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { toWire, type Request } from '../router/worker-protocol.ts';
import type { SnapshotRef } from '../storage/snapshot.ts';
import { decodeRequest, encodeError, encodeResult } from './worker-codec.ts';
import { encodeFrame, FrameKind, type FrameLimits } from './worker-frame.ts';
import { replyLimits, requestLimits, serverOptions, WORKER_SERVICE } from './worker-service.ts';
import { checkFileName, decodeSnapshotRequest, encodeChunk, encodeEnd, encodeSnapshotError } from './snapshot-stream.ts';

export interface WorkerServerOptions {
  host: string;
  /** 0: a free port (see WorkerServer.port). */
  port: number;
  config: Config;
  handler: (req: Request) => Promise<unknown>;
  /** The newest snapshot of a shard this worker holds (null: none). */
  snapshotSource?: (shard: string) => Promise<SnapshotRef | null>;
}

export class WorkerServer {
  readonly host: string;
  readonly port: number;
  readonly #server: grpc.Server;

  private constructor(host: string, port: number, server: grpc.Server) {
    this.host = host;
    this.port = port;
    this.#server = server;
  }

  /** host:port as clients dial it. */
  get address(): string { return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`; }

  static async listen(options: WorkerServerOptions): Promise<WorkerServer> {
    const server = new grpc.Server(serverOptions(options.config));
    const calls = new WorkerCalls(options);
    server.addService(WORKER_SERVICE, {
      Call: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => { void calls.call(call.request).then((reply) => done(null, reply)); },
      Snapshot: (call: grpc.ServerWritableStream<Buffer, Buffer>) => { void calls.snapshot(call); },
      Ping: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => done(null, calls.ping()),
    });
    const address = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err)));
    }).catch((err: unknown) => {
      server.forceShutdown();
      throw listenError(address, err);
    });
    return new WorkerServer(options.host, port, server);
  }

  /** Stops listening; calls still running get up to graceMs to finish, then are cancelled. */
  async close(graceMs = 0): Promise<void> {
    if (graceMs === 0) return this.#server.forceShutdown();
    const timer = setTimeout(() => this.#server.forceShutdown(), graceMs);
    await new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve()));
    clearTimeout(timer);
  }
}

function listenError(address: string, err: unknown): VectorgateError {
  const text = err instanceof Error ? err.message : String(err);
  const inUse = /EADDRINUSE|address already in use/i.test(text);
  return new VectorgateError(SqlState.IoError,
    inUse ? `worker cannot listen on ${address}: the address is already in use` : `worker cannot listen on ${address}: ${text}`,
    { hint: inUse ? 'Stop the process that holds the port, or give the worker another --listen HOST:PORT.' : undefined, cause: err });
}

class WorkerCalls {
  readonly #options: WorkerServerOptions;
  readonly #replies: FrameLimits;
  readonly #requests: FrameLimits;
  readonly #startedAt = Date.now();

  constructor(options: WorkerServerOptions) {
    this.#options = options;
    this.#replies = replyLimits(options.config);
    this.#requests = requestLimits(options.config);
  }

  /** Always a reply frame: a result, or the error (bad request, handler failure, reply too large). */
  async call(data: Buffer): Promise<Buffer> {
    try {
      const req = decodeRequest(data, this.#requests);
      return encodeResult(req.type, (await this.#options.handler(req)) as never, this.#replies);
    } catch (err) {
      return encodeError(toWire(err), this.#replies);
    }
  }

  ping(): Buffer {
    return encodeFrame({ kind: FrameKind.Ping, fields: { pid: process.pid, startedAt: this.#startedAt }, blobs: [] }, this.#replies);
  }

  async snapshot(call: grpc.ServerWritableStream<Buffer, Buffer>): Promise<void> {
    try {
      const shard = decodeSnapshotRequest(call.request, this.#requests);
      const ref = await this.#options.snapshotSource?.(shard) ?? null;
      if (ref === null) throw new VectorgateError(SqlState.UndefinedObject, `worker holds no snapshot of shard ${shard}`);
      await this.#streamFiles(call, ref);
    } catch (err) {
      if (!call.cancelled) call.write(encodeSnapshotError(toWire(err), this.#replies));
    }
    call.end();
  }

  async #streamFiles(call: grpc.ServerWritableStream<Buffer, Buffer>, ref: SnapshotRef): Promise<void> {
    const chunkBytes = this.#options.config.grpcSnapshotChunkBytes;
    const files: Record<string, number> = {};
    for (const name of (await readdir(ref.dir)).sort()) {
      if (!(await stat(join(ref.dir, name))).isFile()) throw new VectorgateError(SqlState.InternalError, `snapshot ${ref.dir} holds ${name}, which is not a file`);
      const handle = await openFile(join(ref.dir, checkFileName(name)), 'r');
      try {
        let offset = 0;
        for (;;) {
          const buffer = Buffer.alloc(chunkBytes);
          const { bytesRead } = await handle.read(buffer, 0, chunkBytes, offset);
          if (bytesRead === 0 && offset > 0) break;
          if (call.cancelled) return;
          await writeWithBackpressure(call, encodeChunk(name, offset, buffer.subarray(0, bytesRead), this.#replies));
          offset += bytesRead;
          if (bytesRead < chunkBytes) break;
        }
        files[name] = offset;
      } finally {
        await handle.close();
      }
    }
    call.write(encodeEnd(ref.seq, files, this.#replies));
  }
}

/** Waits for the stream to drain when its buffer is full, so a large snapshot is not held in memory. */
function writeWithBackpressure(call: grpc.ServerWritableStream<Buffer, Buffer>, data: Buffer): Promise<void> {
  if (call.write(data)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { call.off('drain', done); call.off('cancelled', done); resolve(); };
    call.on('drain', done);
    call.on('cancelled', done);
  });
}

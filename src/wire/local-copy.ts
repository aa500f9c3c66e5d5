// COPY ... FROM STDIN into a collection: the proxy answers CopyInResponse itself and streams the
// client's CopyData into the plan's sink, one write at a time (the sink acknowledges durable batches),
// pausing the client when too much is in flight.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-COPY
import { BackendCode, FrontendCode } from './codes.ts';
import { MessageWriter } from './backend-writer.ts';
import { BodyReader } from './frontend-codec.ts';
import { SqlState, VectorgateError, toVectorgateError } from '../errors.ts';
import type { CopySink, ExecContext, LocalPlan } from '../sql/local-plan.ts';
import type { FrontendMessage } from './frontend-codec.ts';
import type { ReadGate } from './read-gate.ts';

/** What running a COPY into a collection needs of its session. */
export interface CopySession {
  readonly clientGate: ReadGate;
  readonly deps: { config: { maxHeldClientBytes: number } };
  /** The running COPY, which the session hands the client's messages to as they arrive. */
  localCopy: LocalCopy | null;
  writeClient(data: Buffer): void;
  takeHeld(): FrontendMessage | undefined;
}

/**
 * Runs a COPY ... FROM STDIN into a collection: the plan's checks, CopyInResponse, then the client's
 * data into the plan's sink. Resolves with the CommandComplete tag once CopyDone's last batch is durable.
 */
export async function runLocalCopy(session: CopySession, plan: LocalPlan, ctx: ExecContext): Promise<string> {
  const copyIn = plan.copyIn!;
  await copyIn.prepare(ctx);
  const copy = new LocalCopy(copyIn.open(ctx), {
    pauseClient: () => session.clientGate.hold('copy'),
    resumeClient: () => session.clientGate.release('copy'),
  }, session.deps.config.maxHeldClientBytes);
  session.writeClient(copyInResponse(copyIn));
  session.localCopy = copy;
  for (let message = copy.accepting ? session.takeHeld() : undefined; message !== undefined; message = copy.accepting ? session.takeHeld() : undefined) {
    if (isCopyMessage(message.code)) copy.take(message.code, message.raw);
    else copy.unexpected(message.code);
  }
  const onAbort = () => copy.abort(toVectorgateError(ctx.signal.reason));
  ctx.signal.addEventListener('abort', onAbort);
  try {
    return await copy.finished;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    session.localCopy = null;
    session.clientGate.release('copy'); // a COPY that has ended holds no pause, however it ended
  }
}

export interface CopyHost {
  pauseClient(): void;
  resumeClient(): void;
}

export function isCopyMessage(code: number): boolean {
  return code === FrontendCode.CopyData || code === FrontendCode.CopyDone || code === FrontendCode.CopyFail ||
    code === FrontendCode.Flush || code === FrontendCode.Sync;
}

export function copyInResponse(copyIn: NonNullable<LocalPlan['copyIn']>): Buffer {
  const format = copyIn.format === 'binary' ? 1 : 0;
  const w = new MessageWriter(16 + copyIn.columns * 2);
  w.begin(BackendCode.CopyInResponse).byte(format).int16(copyIn.columns);
  for (let i = 0; i < copyIn.columns; i++) w.int16(format);
  return w.end().finish();
}

export class LocalCopy {
  /** False after CopyDone or CopyFail: later messages are not part of this COPY. */
  accepting = true;
  readonly finished: Promise<string>;
  private resolve!: (tag: string) => void;
  private reject!: (err: VectorgateError) => void;
  private chain: Promise<void> = Promise.resolve();
  private pendingBytes = 0;
  private error: VectorgateError | null = null;

  constructor(private readonly sink: CopySink, private readonly host: CopyHost, private readonly maxPendingBytes: number) {
    this.finished = new Promise<string>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.finished.catch(() => undefined);
  }

  /** Takes one client message of the COPY sub-protocol. Flush and Sync are ignored, as PostgreSQL does. */
  take(code: number, raw: Buffer): void {
    if (code === FrontendCode.CopyData) this.data(raw.subarray(5));
    else if (code === FrontendCode.CopyDone) this.done();
    else if (code === FrontendCode.CopyFail) this.fail(new BodyReader(raw, 5).cstring());
  }

  /** A message that does not belong in COPY ends it with an error, as PostgreSQL does. */
  unexpected(code: number): void {
    this.abort(new VectorgateError(SqlState.ProtocolViolation, `unexpected message type 0x${code.toString(16)} during COPY from stdin`));
  }

  /** The statement was cancelled or the session ended. */
  abort(err: VectorgateError): void {
    if (!this.accepting) return;
    this.accepting = false;
    this.error ??= err;
    this.reject(this.error);
    this.host.resumeClient();
  }

  private data(payload: Buffer): void {
    if (this.error !== null) return;
    this.pendingBytes += payload.length;
    if (this.pendingBytes > this.maxPendingBytes) this.host.pauseClient();
    this.chain = this.chain.then(async () => {
      try {
        // After an error the data is dropped, but still counted out, so the client is resumed.
        if (this.error === null) await this.sink.write(payload);
      } catch (err) {
        this.error = toVectorgateError(err);
      } finally {
        this.pendingBytes -= payload.length;
        if (this.pendingBytes <= this.maxPendingBytes / 2) this.host.resumeClient();
      }
    });
  }

  private done(): void {
    this.accepting = false;
    this.chain.then(async () => {
      if (this.error !== null) throw this.error;
      this.resolve(await this.sink.end());
    }).catch((err: unknown) => this.reject(toVectorgateError(err)));
  }

  private fail(message: string): void {
    this.error ??= new VectorgateError(SqlState.QueryCanceled, `COPY from stdin failed: ${message}`);
    this.accepting = false;
    this.chain.then(() => this.reject(this.error!));
  }
}

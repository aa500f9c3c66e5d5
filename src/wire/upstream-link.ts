// The session's connection to the upstream PostgreSQL: forwards its bytes to the client as they come,
// counts responses against the queue of expected ones, and reads the few messages the proxy must know:
// authentication requests, BackendKeyData and ReadyForQuery.
import { noteParameterStatus, noteReadyForQuery } from './access-watch.ts';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { AuthKind, BackendCode, FrontendCode, type TransactionStatus } from './codes.ts';
import { BackendFramer, Disposition, type BackendSink } from './backend-framer.ts';
import { ResponseQueue, isAsynchronous, isTerminal, type Expectation } from './response-queue.ts';
import { stripChannelBinding } from './auth.ts';
import { noteClientEncoding } from './client-text.ts';
import { ReadGate } from './read-gate.ts';
import type { Session } from './session.ts';

/** What an entry with `capture` reads instead of forwarding: its rows, or a statement's parameter types. */
function isCaptured(code: number): boolean {
  return code === BackendCode.DataRow || code === BackendCode.ParameterDescription;
}

const FLUSH = Buffer.from([FrontendCode.Flush, 0, 0, 0, 4]);

/** The largest upstream message the proxy reads whole (authentication requests, status messages). */
const MAX_HELD_BYTES = 64 * 1024;

export class UpstreamLink implements BackendSink {
  readonly queue = new ResponseQueue();
  private readonly framer = new BackendFramer(this, MAX_HELD_BYTES);
  private idleWaiters: (() => void)[] = [];
  /** The entry the message being framed belongs to, fixed at its header. */
  private current: Expectation | undefined;
  /** Reading from the upstream stops while the client is not reading its backlog (client-output.ts). */
  readonly gate: ReadGate;

  constructor(private readonly socket: Socket, private readonly session: Session) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => session.close('upstream socket error'));
    socket.on('close', () => session.close('upstream closed'));
    // The reverse direction: the client is read again once the upstream has taken what was sent.
    socket.on('drain', () => session.clientGate.release('peer'));
    this.gate = new ReadGate(() => socket);
  }

  /** Bytes written to the upstream and not yet taken by it. */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  get pendingResponses(): number {
    return this.queue.length;
  }

  /** While corked, writes collect here; neighbouring slices of one received chunk become one slice. */
  private batch: Buffer[] | null = null;

  write(data: Buffer): void {
    if (this.batch === null) {
      if (!this.socket.write(data)) this.session.clientGate.hold('peer');
      return;
    }
    const last = this.batch[this.batch.length - 1];
    if (last !== undefined && last.buffer === data.buffer && last.byteOffset + last.length === data.byteOffset) {
      this.batch[this.batch.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + data.length);
    } else {
      this.batch.push(data);
    }
  }

  expect(entry: Expectation): void {
    this.queue.push(entry);
    if (this.queue.length >= this.session.deps.config.maxPendingResponses) this.session.clientGate.hold('pending');
  }

  cork(): void {
    this.batch ??= [];
  }

  uncork(): void {
    const batch = this.batch;
    this.batch = null;
    if (batch === null || batch.length === 0) return;
    if (batch.length === 1) {
      this.write(batch[0]!);
      return;
    }
    this.socket.cork();
    for (const data of batch) this.write(data);
    this.socket.uncork();
  }

  close(): void {
    this.socket.end();
    // PostgreSQL ends the backend on Terminate or EOF; a socket it no longer reads is cut after a second.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /**
   * Resolves when every response expected so far has reached the client. PostgreSQL holds back its
   * extended-protocol responses until Sync or Flush, so a Flush goes first (it has no answer).
   */
  whenIdle(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    this.write(FLUSH);
    this.uncork();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private onData(chunk: Buffer): void {
    let out: Buffer[];
    try {
      out = this.framer.push(chunk);
    } catch (err) {
      this.session.fatal(err);
      return;
    }
    if (out.length === 1) this.session.writeClient(out[0]!);
    else if (out.length > 1) {
      this.session.client.cork();
      for (const buf of out) this.session.writeClient(buf);
      this.session.client.uncork();
    }
  }

  onHeader(code: number): Disposition {
    // Read so that local statements decode and encode text as PostgreSQL does for this session.
    if (code === BackendCode.ParameterStatus) return Disposition.Hold;
    if (this.session.phase !== 'ready') {
      return code === BackendCode.Authentication || code === BackendCode.BackendKeyData || code === BackendCode.ReadyForQuery
        ? Disposition.Hold : Disposition.Stream;
    }
    if (isAsynchronous(code)) return Disposition.Stream;
    this.current = this.queue.peek();
    if (code === BackendCode.DataRow && this.current !== undefined && this.current.rows !== null) this.current.rows++;
    if (code === BackendCode.CopyInResponse) this.onCopyIn();
    if (code === BackendCode.ReadyForQuery) return Disposition.Hold;
    if (this.current?.capture && isCaptured(code)) return Disposition.Hold;
    if (code === BackendCode.ErrorResponse && this.current?.captureError) return Disposition.Hold;
    const swallow = this.current?.swallow ?? 'none';
    if (swallow === 'all' || (swallow === 'ok' && code !== BackendCode.ErrorResponse)) return Disposition.Swallow;
    return Disposition.Stream;
  }

  onHeld(code: number, raw: Buffer): Buffer | null {
    if (code === BackendCode.ParameterStatus) {
      noteClientEncoding(this.session, raw);
      noteParameterStatus(this.session, raw);
      return raw;
    }
    if (code === BackendCode.Authentication) return this.onAuthentication(raw);
    if (code === BackendCode.BackendKeyData) {
      this.session.deps.cancels.register(this.session, raw.readInt32BE(5), Buffer.from(raw.subarray(9)));
      return raw;
    }
    if (code === BackendCode.ReadyForQuery) {
      this.session.txStatus = String.fromCharCode(raw[5]!) as TransactionStatus;
      if (this.session.txStatus === 'I') this.session.transactionNotices.clear();
      noteReadyForQuery(this.session, this.session.txStatus);
      if (this.session.settingsInUse) this.session.settingsStale = true;
      if (this.session.phase === 'auth') {
        this.session.onReady();
        return raw;
      }
      const swallowed = this.current !== undefined && this.current.swallow !== 'none';
      this.onEnd(code);
      return swallowed ? null : raw;
    }
    if (this.current?.capture && isCaptured(code)) {
      this.current.capture(raw);
      this.onEnd(code);
      return null;
    }
    if (code === BackendCode.ErrorResponse && this.current?.captureError) {
      this.current.captureError(raw);
      this.onEnd(code);
      return null;
    }
    this.onEnd(code);
    return raw;
  }

  onEnd(code: number): void {
    if (this.session.phase !== 'ready' || isAsynchronous(code)) return;
    const head = this.queue.peek();
    if (head === undefined) return;
    if (code === BackendCode.ErrorResponse) head.sawError = true;
    if (!isTerminal(head.expect, code)) return;
    this.queue.shift();
    if (this.queue.length <= this.session.deps.config.maxPendingResponses / 2) this.session.clientGate.release('pending');
    head.onDone?.(head);
    if (code === BackendCode.ErrorResponse && head.extended) this.skipToSync();
    if (this.queue.length === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /**
   * The upstream entered COPY FROM STDIN: the Syncs already sent before the client ends this COPY are
   * ignored by it, so their entries go; with none left, the next Sync must go upstream.
   */
  private onCopyIn(): void {
    const copy = this.session.upstreamCopy;
    copy.started++;
    if (!this.queue.dropSyncsDuringCopy(copy.started)) this.session.midPipeline = true;
  }

  /** The upstream now ignores messages until Sync; so do we, for the ones not yet sent. */
  private skipToSync(): void {
    this.queue.dropUntilSync();
    if (this.queue.length <= this.session.deps.config.maxPendingResponses / 2) this.session.clientGate.release('pending');
    if (this.queue.length === 0) this.session.ignoreTillSync = true;
  }

  /** The client's TLS ends at the proxy; binding holds only if it presents the upstream's certificate. */
  private channelBindingHolds(): boolean {
    const proxyCert = this.session.deps.tlsCertificate;
    if (!(this.socket instanceof TLSSocket) || !(this.session.client instanceof TLSSocket) || proxyCert === null) return false;
    const upstreamCert = this.socket.getPeerX509Certificate();
    return upstreamCert !== undefined && upstreamCert.raw.equals(proxyCert);
  }

  private onAuthentication(raw: Buffer): Buffer | null {
    const kind = raw.readInt32BE(5);
    if (kind === AuthKind.SASL && !this.channelBindingHolds()) return stripChannelBinding(raw);
    return raw;
  }
}

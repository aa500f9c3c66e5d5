// What a session sends its client: local responses held until the next write, Sync or Flush (as
// PostgreSQL holds its output), and the backlog the client has not read yet. Past
// maxClientBacklogBytes unread the client is "backlogged": the session stops reading from it and
// from its upstream until it drains, as PostgreSQL stops reading while its send buffer is full, so
// one client that never reads holds a bounded number of bytes.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY
import type { Socket } from 'node:net';
import type { MessageWriter } from './backend-writer.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import type { Config } from '../config.ts';

export interface OutputHost {
  /** The client socket now (it is replaced when TLS starts). */
  client(): Socket;
  closed(): boolean;
  /** The backlog crossed the limit (true) or drained (false). */
  onBacklog(backlogged: boolean): void;
  /** The client read nothing for clientBacklogTimeoutMs. */
  onStalled(err: VectorgateError): void;
}

export class ClientOutput {
  private held: Buffer[] = [];
  private heldBytes = 0;
  backlogged = false;
  private stallTimer: NodeJS.Timeout | null = null;
  private roomWaiters: (() => void)[] = [];

  constructor(private readonly host: OutputHost, private readonly config: Config) {}

  /** Writes now, after any held responses. */
  write(data: Buffer): void {
    if (this.held.length > 0) {
      this.held.push(data);
      this.flush();
      return;
    }
    if (this.host.closed()) return;
    this.host.client().write(data);
    this.checkBacklog();
  }

  /** Holds a response, so that a pipeline answered locally reaches the client in one write. */
  hold(data: Buffer): void {
    this.held.push(data);
    this.heldBytes += data.length;
    if (this.heldBytes >= this.config.maxHeldResponseBytes) this.flush();
  }

  flush(): void {
    const held = this.held;
    if (held.length === 0) return;
    this.held = [];
    this.heldBytes = 0;
    if (this.host.closed()) return;
    const client = this.host.client();
    if (held.length > 1) client.cork();
    for (const data of held) client.write(data);
    if (held.length > 1) client.uncork();
    this.checkBacklog();
  }

  /**
   * Sends what a large local result has so far and waits while the client is behind, so a result is
   * never held whole: at most one chunk plus maxClientBacklogBytes of it are in the proxy at a time.
   */
  async spill(w: MessageWriter): Promise<void> {
    this.hold(w.take());
    this.flush();
    if (this.backlogged) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    if (this.host.closed()) {
      throw new VectorgateError(SqlState.ConnectionFailure, 'connection closed while sending a result', { severity: 'FATAL' });
    }
  }

  /** Bytes held or written and not yet read by the client. */
  get bufferedBytes(): number {
    return this.heldBytes + this.host.client().writableLength;
  }

  /** The client socket's 'drain': everything written has been taken. */
  onDrain(): void {
    if (!this.backlogged) return;
    this.backlogged = false;
    this.clearStallTimer();
    for (const resolve of this.roomWaiters.splice(0)) resolve();
    this.host.onBacklog(false);
  }

  /** The session ended: nothing held is sent any more, and waiting results give up. */
  close(): void {
    this.held = [];
    this.heldBytes = 0;
    this.clearStallTimer();
    for (const resolve of this.roomWaiters.splice(0)) resolve();
  }

  private checkBacklog(): void {
    if (this.backlogged || this.host.client().writableLength < this.config.maxClientBacklogBytes) return;
    this.backlogged = true;
    const timeoutMs = this.config.clientBacklogTimeoutMs;
    this.stallTimer = setTimeout(() => this.host.onStalled(new VectorgateError(SqlState.ConnectionFailure,
      `terminating connection: the client read none of its results for ${timeoutMs} ms`, { severity: 'FATAL' })), timeoutMs);
    this.host.onBacklog(true);
  }

  private clearStallTimer(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
  }
}

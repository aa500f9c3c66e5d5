// One client connection: startup and authentication relayed to the upstream unchanged, then every
// message either forwarded byte for byte or answered locally, with responses in the client's order.
// https://www.postgresql.org/docs/current/protocol-flow.html
import type { Socket } from 'node:net';
import type { TLSSocket, SecureContext } from 'node:tls';
import { FrontendCode, type TransactionStatus } from './codes.ts';
import { FrontendReader, type FrontendMessage } from './frontend-codec.ts';
import { errorMessage } from './backend-writer.ts';
import { handleStartupPacket } from './startup-phase.ts';
import { UpstreamLink } from './upstream-link.ts';
import { type LocalCopy, isCopyMessage } from './local-copy.ts';
import { Dispatcher } from './dispatcher.ts';
import { ReadGate } from './read-gate.ts';
import { ClientOutput } from './client-output.ts';
import type { RowOutput } from './local-statements.ts';
import type { CancelRegistry } from './cancel.ts';
import { SqlState, VectorgateError, toVectorgateError } from '../errors.ts';
import type { Config } from '../config.ts';
import type { Classifier } from '../sql/classify.ts';
import type { Collections } from '../router/collections.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { Logger } from '../log.ts';
import type { Tenant } from '../sql/access-types.ts';
import type { SessionAccess } from '../sql/access.ts';
import { openSessionAccess, startupDatabase, type ProxyAccessEpoch } from './access-watch.ts';
import { SessionTenant } from '../sql/tenant.ts';
import type { QuotaStore } from '../router/quotas.ts';
import { SessionPositions } from '../router/session-positions.ts';

export interface SessionDeps {
  config: Config;
  classifier: Classifier;
  collections: Collections | null;
  tls: SecureContext | null;
  /** DER of the proxy's own certificate, to tell whether SCRAM channel binding can hold. */
  tlsCertificate: Buffer | null;
  connectUpstream(): Promise<Socket>;
  cancels: CancelRegistry;
  metrics: ProxyMetrics;
  log: Logger;
  /** No privilege checks (ProxyOptions.uncheckedAccess). */
  uncheckedAccess: boolean;
  /** Bumped when privileges may have changed (access-watch.ts): every session's answers go. */
  aclEpoch: ProxyAccessEpoch;
  /** The proxy's per-role limit counters (quotas of src/sql/tenant.ts). */
  quotas: QuotaStore;
}

export type Phase = 'startup' | 'auth' | 'ready' | 'closed';

export class Session {
  phase: Phase = 'startup';
  txStatus: TransactionStatus = 'I';
  client: Socket;
  upstream: UpstreamLink | null = null;
  readonly reader: FrontendReader;
  private readonly dispatcher: Dispatcher;
  private inbox: FrontendMessage[] = [];
  private inboxBytes = 0;
  /** Responses held until Sync/Flush and the client's unread backlog; nothing runs while it is backlogged. */
  private readonly output: ClientOutput;
  private busy = false;
  /** Reading from the client, stopped while any reason holds (see ReadGate). */
  readonly clientGate = new ReadGate(() => this.client);
  /** Shutting down: nothing more is read or started; the running statement may finish. */
  private draining = false;
  private startupTimer: NodeJS.Timeout | null;
  /** Until the first byte: a socket that says nothing is closed sooner than one that is logging in. */
  private silenceTimer: NodeJS.Timeout | null;
  readonly remoteAddress: string;
  private readyWaiters: (() => void)[] = [];
  /** After an extended-protocol error: drop messages until Sync, as PostgreSQL does. */
  ignoreTillSync = false;
  localCopy: LocalCopy | null = null;
  /**
   * Pass-through COPY FROM STDIN: CopyInResponses seen from the upstream, and CopyDone/CopyFail sent
   * to it. While started > endsSent the upstream is copying and ignores Sync.
   */
  readonly upstreamCopy = { started: 0, endsSent: 0 };
  /** A bad message length during authentication went upstream for PostgreSQL to answer; the client is not read. */
  private handedOver = false;
  /** Extended-protocol messages have gone upstream since the last Sync (an implicit transaction may be open). */
  midPipeline = false;
  /** Statements the proxy prepared upstream for its own reads, by SQL text. */
  readonly internalStatements = new Map<string, string>();
  /** Notices sent once per transaction block (ExecContext.noticeOncePerTransaction), by key; cleared when it ends. */
  readonly transactionNotices = new Set<string>();
  /** The positions of this session's acknowledged vector writes (`session` consistency reads wait for them). */
  readonly writePositions: SessionPositions;
  /** Effective `vectorgate.*` values of this session (read from PostgreSQL), by name without the prefix. */
  readonly settings = new Map<string, string>();
  /** They may differ from PostgreSQL's now: read them before the next local statement. */
  settingsStale = true;
  /**
   * This session has set vectorgate.* values: any upstream statement may have changed them since
   * (ROLLBACK, COMMIT ending a SET LOCAL, ROLLBACK TO SAVEPOINT, RESET ALL), so each ReadyForQuery
   * marks them stale. Sessions that never set one are never re-read.
   */
  settingsInUse = false;
  /** The session's client_encoding (PostgreSQL's name), from the upstream's ParameterStatus. */
  clientEncoding = 'UTF8';
  /**
   * The database of the StartupMessage (its user's name when it names none, as PostgreSQL defaults
   * it); PostgreSQL accepted it when authentication ended.
   */
  database = '';
  /** Bumped when this session's role may have changed (access-watch.ts). */
  accessEpoch = 0;
  /** Access changes sent upstream and not yet committed (AccessChange bits). */
  pendingAccessChange = 0;
  readonly access: SessionAccess;
  readonly tenant: Tenant;
  /** The current role is a superuser, as PostgreSQL's is_superuser ParameterStatus last said. */
  isSuperuser = false;

  constructor(socket: Socket, readonly deps: SessionDeps) {
    this.client = socket;
    this.reader = new FrontendReader(deps.config);
    this.access = openSessionAccess(this);
    this.writePositions = new SessionPositions(deps.config.maxSessionWritePositions);
    this.tenant = new SessionTenant({ store: deps.quotas, config: deps.config, collections: deps.collections, metrics: deps.metrics.tenants });
    this.dispatcher = new Dispatcher(this);
    this.output = new ClientOutput({
      client: () => this.client,
      closed: () => this.phase === 'closed',
      onBacklog: (backlogged) => this.onBacklog(backlogged),
      onStalled: (err) => this.fatal(err),
    }, deps.config);
    this.remoteAddress = socket.remoteAddress ?? '';
    this.startupTimer = setTimeout(() => this.close('startup timeout'), deps.config.startupTimeoutMs);
    this.silenceTimer = setTimeout(() => this.close('no startup packet'), deps.config.startupSilenceTimeoutMs);
    this.attachClient(socket);
  }

  /** Not yet authenticated: counts against the startup limits of server.ts. */
  get inStartup(): boolean {
    return this.phase === 'startup' || this.phase === 'auth';
  }

  private attachClient(socket: Socket): void {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onClientData(chunk));
    socket.on('error', () => this.close('client socket error'));
    socket.on('close', () => this.close('client closed'));
    socket.on('drain', () => this.output.onDrain());
    if (this.deps.config.idleSessionTimeoutMs > 0) {
      socket.setTimeout(this.deps.config.idleSessionTimeoutMs, () => this.onIdle());
    }
  }

  private onClientData(chunk: Buffer): void {
    this.clearSilenceTimer();
    if (this.handedOver) return;
    let messages: FrontendMessage[];
    try {
      messages = this.reader.push(chunk);
    } catch (err) {
      if (this.phase === 'auth' && this.upstream !== null && this.reader.rejectedHeader !== null) this.handOverBadLength(this.reader.rejectedHeader);
      else this.fatal(err);
      return;
    }
    if (this.busy || this.inbox.length > 0 || this.output.backlogged || this.draining) {
      for (const m of messages) if (!this.toLocalCopy(m)) this.enqueue(m);
      return;
    }
    this.upstream?.cork();
    try {
      for (let i = 0; i < messages.length; i++) {
        const pending = this.handle(messages[i]!);
        if (pending !== undefined || this.output.backlogged) {
          for (let j = i + 1; j < messages.length; j++) this.enqueue(messages[j]!);
          if (pending !== undefined) this.wait(pending);
          break;
        }
      }
    } catch (err) {
      this.fatal(err);
    } finally {
      this.upstream?.uncork();
    }
  }

  /** While a COPY into a collection runs, its messages go to it, in order, past the busy gate. */
  private toLocalCopy(message: FrontendMessage): boolean {
    const copy = this.localCopy;
    if (copy === null || !copy.accepting || this.inbox.length > 0) return false;
    if (isCopyMessage(message.code)) copy.take(message.code, message.raw);
    else copy.unexpected(message.code);
    return true;
  }

  /** The oldest message held behind the running statement, if any (a COPY takes its own data this way). */
  takeHeld(): FrontendMessage | undefined {
    return this.inbox.length > 0 ? this.dequeue() : undefined;
  }

  private enqueue(message: FrontendMessage): void {
    this.inbox.push(message);
    this.inboxBytes += message.raw.length;
    if (this.inboxBytes > this.deps.config.maxHeldClientBytes) this.clientGate.hold('inbox');
  }

  /** The oldest held message; reading resumes once the inbox is down to half its limit (whoever takes it: pump or a COPY). */
  private dequeue(): FrontendMessage {
    const message = this.inbox.shift()!;
    this.inboxBytes -= message.raw.length;
    if (this.inboxBytes <= this.deps.config.maxHeldClientBytes / 2) this.clientGate.release('inbox');
    return message;
  }

  /** Messages after an asynchronous step (a local statement) wait until it is done, in order. */
  private wait(pending: Promise<void>): void {
    this.busy = true;
    pending.then(() => {
      this.busy = false;
      this.pump();
    }, (err: unknown) => this.fatal(err));
  }

  private pump(): void {
    this.upstream?.cork();
    try {
      while (!this.busy && !this.output.backlogged && !this.draining && this.inbox.length > 0 && this.phase !== 'closed') {
        const pending = this.handle(this.dequeue());
        if (pending !== undefined) this.wait(pending);
      }
    } catch (err) {
      this.fatal(err);
    } finally {
      this.upstream?.uncork();
    }
  }

  /** Handles one message; returns a promise when later messages must wait for it. */
  private handle(message: FrontendMessage): Promise<void> | undefined {
    if (this.toLocalCopy(message)) return undefined;
    if (this.phase === 'startup') return handleStartupPacket(this, message);
    // A message sent ahead of the end of authentication (pipelined after the StartupMessage) runs after it.
    if (this.phase === 'auth' && message.code !== FrontendCode.Password) return this.untilReady().then(() => this.afterReady(message));
    return this.dispatcher.dispatch(message);
  }

  /**
   * A message of a length PostgreSQL refuses, during authentication: its header alone goes upstream, so
   * that PostgreSQL ends the exchange as it would for a direct client (silently for a password, with
   * 28P01 for SASL), and nothing more is read from the client. The startup deadline still applies.
   */
  private handOverBadLength(header: Buffer): void {
    this.handedOver = true;
    this.client.pause();
    this.inbox = [];
    this.inboxBytes = 0;
    this.upstream!.write(header);
    this.upstream!.uncork();
  }

  private afterReady(message: FrontendMessage): Promise<void> | undefined {
    return this.phase === 'ready' ? this.dispatcher.dispatch(message) : undefined;
  }

  /** The client socket is now a TLS socket (startup-phase.ts): listen on it instead. */
  switchToTls(secure: TLSSocket): void {
    this.client = secure;
    this.attachClient(secure);
  }

  /** Opens the upstream connection and relays the client's StartupMessage (startup-phase.ts). */
  async connectUpstream(startup: Buffer): Promise<void> {
    this.phase = 'auth';
    this.database = startupDatabase(startup);
    let socket: Socket;
    try {
      socket = await this.deps.connectUpstream();
    } catch (cause) {
      throw new VectorgateError(SqlState.ConnectionFailure, 'could not connect to the upstream PostgreSQL server', { severity: 'FATAL', cause });
    }
    if ((this.phase as Phase) === 'closed') {
      socket.destroy();
      return;
    }
    this.upstream = new UpstreamLink(socket, this);
    this.upstream.write(startup);
  }

  private untilReady(): Promise<void> {
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Called by the upstream link at the first ReadyForQuery: authentication is over. */
  onReady(): void {
    this.phase = 'ready';
    this.reader.limitMessageBytes(this.deps.config.maxMessageBytes);
    if (this.startupTimer) clearTimeout(this.startupTimer);
    this.startupTimer = null;
    for (const resolve of this.readyWaiters.splice(0)) resolve();
  }

  /** Writes to the client now, after any held responses (see holdClient). */
  writeClient(data: Buffer): void {
    this.output.write(data);
  }

  /**
   * Holds a local response until the next write, Sync or Flush, as PostgreSQL holds its output until
   * then: a pipeline answered locally reaches the client in one write, not one per message.
   * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY
   */
  holdClient(data: Buffer): void {
    this.output.hold(data);
  }

  flushClient(): void {
    this.output.flush();
  }

  /** Large local results stream through ClientOutput.spill in chunks of maxHeldResponseBytes. */
  get rowOutput(): RowOutput {
    return { chunkBytes: this.deps.config.maxHeldResponseBytes, spill: (w) => this.output.spill(w) };
  }

  /** Bytes this session holds for its client: messages waiting to run, responses not yet sent or not yet read. */
  bufferedBytes(): number {
    return this.inboxBytes + this.output.bufferedBytes + (this.upstream?.writableLength ?? 0);
  }

  /** Backlogged: read neither the client nor its upstream, start nothing queued, until the client drains. */
  private onBacklog(backlogged: boolean): void {
    if (backlogged) {
      this.clientGate.hold('backlog');
      this.upstream?.gate.hold('backlog');
      return;
    }
    this.clientGate.release('backlog');
    this.upstream?.gate.release('backlog');
    if (!this.busy) this.pump();
  }

  dispatcherTable(): Dispatcher['table'] {
    return this.dispatcher.table;
  }

  /** Client-visible local work (not upstream) that a CancelRequest interrupts. */
  cancelLocal(): void {
    this.dispatcher.cancel();
  }

  private onIdle(): void {
    if (this.phase !== 'ready' || this.txStatus !== 'I' || this.busy || (this.upstream?.pendingResponses ?? 0) > 0) return;
    this.fatal(new VectorgateError(SqlState.IdleSessionTimeout, 'terminating connection due to idle-session timeout', { severity: 'FATAL' }));
  }

  /** Shutdown: stop reading the client and starting its queued messages; what runs may finish. */
  stopAccepting(): void {
    this.draining = true;
    this.clientGate.hold('shutdown');
  }

  /** No local statement running and no upstream answer outstanding: it can end without losing one. */
  get idle(): boolean {
    return !this.busy && (this.upstream?.pendingResponses ?? 0) === 0;
  }

  /** Ends the session at once, without waiting for the client to read its last bytes. */
  destroy(reason: string): void {
    this.close(reason);
    this.client.destroy();
  }

  /** Ends the connection with a FATAL error (08P01 for malformed input). */
  fatal(err: unknown): void {
    if (this.phase === 'closed') return;
    const error = toVectorgateError(err);
    if (error.severity === 'COMMERROR') {
      // PostgreSQL logs these and closes without a word: a driver must not get an answer it never asked for.
      this.deps.metrics.protocolErrors.inc();
      this.deps.log.info({ code: error.code, err: error.message }, 'closing connection');
      this.close(error.message);
      return;
    }
    const fatal = error.severity === 'FATAL' ? error : new VectorgateError(error.code, error.message, { severity: 'FATAL', cause: err });
    if (fatal.code === SqlState.ProtocolViolation) this.deps.metrics.protocolErrors.inc();
    this.deps.log.warn({ code: fatal.code, err: fatal.message }, 'closing connection');
    this.client.end(errorMessage(fatal));
    this.close(fatal.message);
  }

  private clearSilenceTimer(): void {
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.silenceTimer = null;
  }

  close(reason: string): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    if (this.startupTimer) clearTimeout(this.startupTimer);
    this.clearSilenceTimer();
    this.deps.cancels.remove(this);
    this.dispatcher.cancel();
    this.localCopy?.abort(new VectorgateError(SqlState.ConnectionFailure, 'connection closed during COPY'));
    this.upstream?.close();
    // Nothing held is sent any more: drop it now, and do not wait a second for a client that never reads.
    this.inbox = [];
    this.inboxBytes = 0;
    const backlogged = this.output.backlogged;
    this.output.close();
    if (backlogged) this.client.destroy();
    else if (!this.client.writableEnded) this.client.end();
    setTimeout(() => this.client.destroy(), 1000).unref();
    this.deps.log.debug({ reason }, 'session closed');
    this.onClosed?.();
  }

  onClosed: (() => void) | null = null;
}

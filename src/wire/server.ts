// The proxy's listening socket: accepts clients up to the connection limit and gives each a Session.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { Session, type SessionDeps } from './session.ts';
import { LocalQuotaStore, type QuotaStore } from '../router/quotas.ts';
import { CancelRegistry } from './cancel.ts';
import { StartupCode } from './codes.ts';
import { errorMessage } from './backend-writer.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { Classifier, loadParser } from '../sql/classify.ts';
import type { Config } from '../config.ts';
import type { Collections } from '../router/collections.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { Logger } from '../log.ts';

export interface ProxyServer {
  readonly host: string;
  readonly port: number;
  readonly sessions: ReadonlySet<Session>;
  readonly metrics: ProxyMetrics;
  close(): Promise<void>;
}

export interface ProxyOptions {
  /**
   * Skip privilege checks on collections: every role may do everything. Only for measuring what the
   * checks cost (bench/tenants.ts); no flag or setting turns this on.
   */
  uncheckedAccess?: boolean;
  /** Where per-role quotas count (the cluster shares them through etcd); default: this proxy's memory. */
  quotas?: QuotaStore;
}

export async function startProxy(config: Config, metrics: ProxyMetrics, log: Logger, collections: Collections | null = null, options: ProxyOptions = {}): Promise<ProxyServer> {
  await loadParser();
  const tls = config.tlsCertFile && config.tlsKeyFile
    ? createSecureContext({ cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) })
    : null;
  const deps: SessionDeps = {
    config,
    classifier: new Classifier(config, { collections }),
    collections,
    tls,
    tlsCertificate: config.tlsCertFile ? new X509Certificate(readFileSync(config.tlsCertFile)).raw : null,
    connectUpstream: () => connectUpstream(config),
    cancels: new CancelRegistry({ host: config.upstreamHost, port: config.upstreamPort, timeoutMs: config.cancelTimeoutMs }),
    metrics,
    log,
    uncheckedAccess: options.uncheckedAccess === true,
    aclEpoch: { value: 0 },
    quotas: options.quotas ?? new LocalQuotaStore({ maxTrackedRoles: config.maxTrackedRoles }),
  };
  const sessions = new Set<Session>();
  metrics.sessionBuffers.read = () => [...sessions].map((session) => session.bufferedBytes());
  metrics.search.read = () => collections?.searchStats() ?? null;
  const stopRerankMetrics = collections?.onRerank(metrics.reranked) ?? (() => undefined);
  const server = createServer({ noDelay: true }, (socket) => accept(socket, deps, sessions));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listenPort, config.listenHost, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.listenPort;
  log.info({ host: config.listenHost, port, upstream: `${config.upstreamHost}:${config.upstreamPort}`, tls: tls !== null }, 'proxy listening');
  return { host: config.listenHost, port, sessions, metrics, close: () => { stopRerankMetrics(); return closeServer(server, sessions, config, log); } };
}

function accept(socket: Socket, deps: SessionDeps, sessions: Set<Session>): void {
  deps.metrics.connectionsTotal.inc();
  const refusal = admissionRefusal(socket.remoteAddress ?? '', deps.config, sessions);
  if (refusal !== null) {
    deps.metrics.connectionsRejected.inc();
    socket.on('error', () => socket.destroy());
    socket.end(errorMessage(new VectorgateError(SqlState.TooManyConnections, refusal, { severity: 'FATAL' })));
    // Read (and drop) what the client sends, so that its close is seen and the socket is released.
    socket.resume();
    return;
  }
  const session = new Session(socket, deps);
  sessions.add(session);
  deps.metrics.connections.inc();
  session.onClosed = () => {
    sessions.delete(session);
    deps.metrics.connections.dec();
  };
}

/**
 * Connections that never finish startup must not lock real users out: those still in startup may not
 * take the slots reserved for authenticated sessions (as PostgreSQL reserves superuser_reserved_connections),
 * nor more than maxStartupPerAddress from one address; silent ones end at startupSilenceTimeoutMs.
 * Returns why a new connection is refused, or null. https://www.postgresql.org/docs/current/runtime-config-connection.html
 */
function admissionRefusal(address: string, config: Config, sessions: ReadonlySet<Session>): string | null {
  if (sessions.size >= config.maxConnections) return 'sorry, too many clients already';
  let starting = 0;
  let startingHere = 0;
  for (const session of sessions) {
    if (!session.inStartup) continue;
    starting++;
    if (session.remoteAddress === address) startingHere++;
  }
  const startupSlots = Math.max(1, config.maxConnections - config.reservedAuthenticatedConnections);
  if (starting >= startupSlots) return 'sorry, too many clients already (remaining connection slots are reserved for authenticated sessions)';
  if (startingHere >= config.maxStartupPerAddress) return `sorry, too many connections from ${address} are still starting up`;
  return null;
}

/** Shutdown notices a statement's end by looking every few ms: one place, instead of a hook wherever a statement can end. */
const SHUTDOWN_POLL_MS = 20;
const adminShutdown = () => new VectorgateError(SqlState.AdminShutdown, 'terminating connection due to administrator command', { severity: 'FATAL' });

/**
 * Stops accepting, lets each session's running statement finish for up to shutdownGraceMs (it then
 * gets PostgreSQL's FATAL 57P01, as in a fast shutdown), and ends the rest at the deadline whatever
 * their clients do: one that never reads or a half-open socket cannot hold the shutdown up.
 * https://www.postgresql.org/docs/current/server-shutdown.html
 */
async function closeServer(server: Server, sessions: Set<Session>, config: Config, log: Logger): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const session of sessions) session.stopAccepting();
  const deadline = performance.now() + config.shutdownGraceMs;
  for (;;) {
    for (const session of sessions) if (session.phase !== 'ready' || session.idle) session.fatal(adminShutdown());
    if (sessions.size === 0 || performance.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, SHUTDOWN_POLL_MS));
  }
  if (sessions.size > 0) log.warn({ sessions: sessions.size, graceMs: config.shutdownGraceMs }, 'ending sessions whose statements did not finish in time');
  for (const session of sessions) session.destroy('proxy shutting down');
  // Clients of ended sessions close their side in their own time, but not past the deadline.
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - performance.now())).unref())]);
}

/** Opens a connection to the upstream, with TLS when configured (SSLRequest first, as libpq does). */
export function connectUpstream(config: Config): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: config.upstreamHost, port: config.upstreamPort, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connecting to ${config.upstreamHost}:${config.upstreamPort} timed out`));
    }, config.upstreamConnectTimeoutMs);
    socket.once('error', (err) => { clearTimeout(timer); reject(err); });
    socket.once('connect', () => {
      if (!config.upstreamTls) {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
        return;
      }
      const request = Buffer.alloc(8);
      request.writeInt32BE(8, 0);
      request.writeInt32BE(StartupCode.SSLRequest, 4);
      socket.write(request);
      socket.once('data', (answer: Buffer) => {
        if (answer[0] !== 0x53 || answer.length !== 1) {
          clearTimeout(timer);
          socket.destroy();
          reject(new Error('upstream refused TLS'));
          return;
        }
        const secure = tlsConnect({ socket, servername: config.upstreamHost, ...upstreamTrust(config) });
        secure.once('secureConnect', () => { clearTimeout(timer); secure.removeAllListeners('error'); resolve(secure); });
        secure.once('error', (err) => { clearTimeout(timer); reject(err); });
      });
    });
  });
}

function upstreamTrust(config: Config): { rejectUnauthorized: boolean; ca?: Buffer } {
  if (config.upstreamTlsCaFile) return { rejectUnauthorized: true, ca: readFileSync(config.upstreamTlsCaFile) };
  return { rejectUnauthorized: false };
}

export type { SecureContext };

// The one place that holds vectorgate's defaults and limits. Every limit is a setting: a flag, an
// environment variable (VECTORGATE_<NAME in upper snake case>) or a field of this object in tests.
// docs/configuration.md documents the same table; test/config.test.ts keeps the two in step.

export interface Config {
  /** Address the proxy listens on. */
  listenHost: string;
  listenPort: number;
  /** postgres://user@host:port/db of the PostgreSQL everything else passes through to (host/port used). */
  upstreamHost: string;
  upstreamPort: number;
  /** Use TLS from the proxy to the upstream PostgreSQL (SSLRequest, then a TLS handshake). */
  upstreamTls: boolean;
  /** PEM files; when both are set the proxy answers SSLRequest with 'S' and terminates TLS. */
  tlsCertFile: string | null;
  tlsKeyFile: string | null;
  /** Data directory of the embedded default (PostgreSQL in <dataDir>/pg). */
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** One in N hot-path debug lines is written (per statement logs). */
  logSampleEvery: number;
  /** Prometheus endpoint; port 0 disables it. */
  metricsHost: string;
  metricsPort: number;

  /** Largest frontend message accepted after startup (PostgreSQL's own cap is 1 GB). */
  maxMessageBytes: number;
  /** Largest startup packet (PostgreSQL's MAX_STARTUP_PACKET_LENGTH). */
  maxStartupPacketBytes: number;
  /** Client connections served at once; more get FATAL 53300 like PostgreSQL's max_connections. */
  maxConnections: number;
  /** From TCP accept to ReadyForQuery (PostgreSQL: authentication_timeout). */
  startupTimeoutMs: number;
  /** Close a session idle outside a transaction for this long; 0 = never (PostgreSQL's default). */
  idleSessionTimeoutMs: number;
  /** Connecting to the upstream PostgreSQL. */
  upstreamConnectTimeoutMs: number;
  /** Upstream bytes held while a local statement earlier in the pipeline runs, before reading pauses. */
  maxHeldUpstreamBytes: number;
  /** Client messages held behind a running local statement, before reading from the client pauses. */
  maxHeldClientBytes: number;
  /** Statements whose classification (local or pass-through) is cached per process. */
  classifyCacheEntries: number;
  /** Longest SQL text that is classified by parsing; longer texts with our tokens get 54000. */
  maxClassifiedSqlBytes: number;
  /** Named prepared statements and portals tracked per session. */
  maxPreparedPerSession: number;
}

export const DEFAULTS: Readonly<Config> = Object.freeze({
  listenHost: '127.0.0.1',
  listenPort: 6432,
  upstreamHost: '127.0.0.1',
  upstreamPort: 5432,
  upstreamTls: false,
  tlsCertFile: null,
  tlsKeyFile: null,
  dataDir: './data',
  logLevel: 'info',
  logSampleEvery: 100,
  metricsHost: '127.0.0.1',
  metricsPort: 9187,
  maxMessageBytes: 64 * 1024 * 1024,
  maxStartupPacketBytes: 10_000,
  maxConnections: 1000,
  startupTimeoutMs: 60_000,
  idleSessionTimeoutMs: 0,
  upstreamConnectTimeoutMs: 10_000,
  maxHeldUpstreamBytes: 8 * 1024 * 1024,
  maxHeldClientBytes: 8 * 1024 * 1024,
  classifyCacheEntries: 10_000,
  maxClassifiedSqlBytes: 1024 * 1024,
  maxPreparedPerSession: 10_000,
});

export function makeConfig(overrides: Partial<Config> = {}): Config {
  const config = { ...DEFAULTS, ...overrides };
  assertConfig(config);
  return config;
}

function assertConfig(config: Config): void {
  const positive: (keyof Config)[] = [
    'maxMessageBytes', 'maxStartupPacketBytes', 'maxConnections', 'startupTimeoutMs',
    'upstreamConnectTimeoutMs', 'maxHeldUpstreamBytes', 'maxHeldClientBytes', 'classifyCacheEntries',
    'maxClassifiedSqlBytes', 'maxPreparedPerSession', 'logSampleEvery',
  ];
  for (const key of positive) {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new RangeError(`setting ${key} must be a positive integer, got ${String(value)}`);
    }
  }
  if (config.maxStartupPacketBytes > config.maxMessageBytes) {
    throw new RangeError('maxStartupPacketBytes must not exceed maxMessageBytes');
  }
  if ((config.tlsCertFile === null) !== (config.tlsKeyFile === null)) {
    throw new RangeError('tlsCertFile and tlsKeyFile are set together or not at all');
  }
}

/** Reads VECTORGATE_* environment variables into config overrides, typed like DEFAULTS. */
export function configFromEnv(env: NodeJS.ProcessEnv): Partial<Config> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(DEFAULTS) as (keyof Config)[]) {
    const raw = env[envName(key)];
    if (raw === undefined) continue;
    out[key] = parseSetting(key, raw);
  }
  return out as Partial<Config>;
}

export function envName(key: string): string {
  return 'VECTORGATE_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

export function parseSetting(key: keyof Config, raw: string): unknown {
  const template = DEFAULTS[key];
  if (typeof template === 'number') {
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new RangeError(`setting ${key}: not a number: ${raw}`);
    return value;
  }
  if (typeof template === 'boolean') return raw === 'true' || raw === '1' || raw === 'on';
  return raw;
}

// Command-line flags → Config. Flags beat VECTORGATE_* environment variables, which beat DEFAULTS.
import { parseArgs } from 'node:util';
import { configFromEnv, makeConfig, type Config } from '../config.ts';

export const USAGE = `usage: vectorgate <command> [flags]

commands:
  start                 PostgreSQL (data in <data-dir>/pg), proxy and workers in one process
  proxy --upstream URL  front an existing PostgreSQL (with --etcd URLS: a stateless proxy of a cluster)
  worker --etcd URLS --listen HOST:PORT --data-dir DIR [--zone Z] [--capacity N]
                        a cluster's shard worker: hosts the replicas placed on it, served over gRPC
  cluster [--workers N] [--etcd URLS]
                        a whole cluster on this machine: PostgreSQL, 3 etcd members (the etcd on PATH,
                        unless --etcd names a running cluster), N workers (default 3) and 2 proxies
  settings              print every setting with its environment variable and default
  load FILE --collection NAME [--url postgres://user:pass@host:port/db] [--batch-size N]
                        load .fvecs/.jsonl/.csv into a collection through a running proxy (COPY);
                        --create [--dims D] [--metric M] [--shards S] [--quantization Q] creates it

flags:
  --listen HOST:PORT         proxy address (default 127.0.0.1:6432)
  --upstream URL             postgres://host:port of the upstream PostgreSQL (proxy command)
  --upstream-tls             TLS to the upstream (with --upstream-tls-ca FILE to verify it)
  --data-dir DIR             data directory (default ./data)
  --tls-cert FILE --tls-key FILE   terminate client TLS at the proxy
  --metrics-listen HOST:PORT Prometheus endpoint (default 127.0.0.1:9187; port 0 disables)
  --log-level LEVEL          silent|fatal|error|warn|info|debug|trace (default info)
  --etcd URLS                etcd client URLs, comma-separated (proxy, worker, cluster)
  --etcd-logs URLS           a separate etcd cluster for the shard logs (default: the --etcd one)
  --zone Z --capacity N      a worker's zone and relative capacity
  --workers N                workers the cluster command starts (default 3)

Every setting is also an environment variable: VECTORGATE_LISTEN_PORT, VECTORGATE_MAX_CONNECTIONS, ...
(see docs/configuration.md).`;

export interface Command {
  name: string;
  config: Config;
  positionals: string[];
  flags: Record<string, string | boolean | undefined>;
}

export function parseCommand(argv: string[], env: NodeJS.ProcessEnv): Command {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      listen: { type: 'string' },
      upstream: { type: 'string' },
      'upstream-tls': { type: 'boolean' },
      'upstream-tls-ca': { type: 'string' },
      'data-dir': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'metrics-listen': { type: 'string' },
      'log-level': { type: 'string' },
      collection: { type: 'string' },
      url: { type: 'string' },
      'batch-size': { type: 'string' },
      create: { type: 'boolean' },
      dims: { type: 'string' },
      metric: { type: 'string' },
      shards: { type: 'string' },
      quantization: { type: 'string' },
      etcd: { type: 'string' },
      'etcd-logs': { type: 'string' },
      zone: { type: 'string' },
      capacity: { type: 'string' },
      workers: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const overrides: Partial<Config> = { ...configFromEnv(env) };
  if (values.listen) Object.assign(overrides, hostPort(values.listen, 'listenHost', 'listenPort'));
  if (values['metrics-listen']) Object.assign(overrides, hostPort(values['metrics-listen'], 'metricsHost', 'metricsPort'));
  if (values.upstream) {
    const url = new URL(values.upstream);
    overrides.upstreamHost = url.hostname;
    overrides.upstreamPort = url.port ? Number(url.port) : 5432;
  }
  if (values['upstream-tls']) overrides.upstreamTls = true;
  if (values['upstream-tls-ca']) overrides.upstreamTlsCaFile = values['upstream-tls-ca'];
  if (values['data-dir']) overrides.dataDir = values['data-dir'];
  if (values['tls-cert']) overrides.tlsCertFile = values['tls-cert'];
  if (values['tls-key']) overrides.tlsKeyFile = values['tls-key'];
  if (values.etcd) overrides.etcdEndpoints = values.etcd;
  if (values['etcd-logs']) overrides.etcdLogEndpoints = values['etcd-logs'];
  if (values.zone) overrides.workerZone = values.zone;
  if (values.capacity) overrides.workerCapacity = Number(values.capacity);
  if (values['log-level']) overrides.logLevel = values['log-level'] as Config['logLevel'];
  const [name = 'help', ...rest] = positionals;
  return { name: values.help ? 'help' : name, config: makeConfig(overrides), positionals: rest, flags: values };
}

function hostPort(text: string, hostKey: 'listenHost' | 'metricsHost', portKey: 'listenPort' | 'metricsPort'): Partial<Config> {
  const at = text.lastIndexOf(':');
  if (at < 0) throw new RangeError(`expected HOST:PORT, got ${text}`);
  const port = Number(text.slice(at + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`bad port in ${text}`);
  return { [hostKey]: text.slice(0, at), [portKey]: port };
}

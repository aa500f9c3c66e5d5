// PostgreSQL plus a vectorgate proxy in front of it, as the client tests use them. stop() stops both.
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATABASE, startCluster, type TestCluster } from './cluster.ts';
import { makeConfig, type Config } from '../../src/config.ts';
import { startProxy, type ProxyServer } from '../../src/wire/server.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createLogger } from '../../src/log.ts';
import { Collections } from '../../src/router/collections.ts';
import type { DatabaseCollections } from '../../src/router/database-collections.ts';

export interface Stack {
  cluster: TestCluster;
  proxy: ProxyServer;
  collections: Collections;
  /** The collections of the test database (DATABASE), where the SQL tests' sessions connect. */
  app: DatabaseCollections;
  proxyPort: number;
  proxyHost: '127.0.0.1';
  tls?: { caFile: string };
  stop(): Promise<void>;
}

export interface StackOptions {
  tls?: boolean;
  /** PostgreSQL serves TLS too, and the proxy connects to it with TLS. */
  upstreamTls?: boolean;
  /** With upstreamTls: the proxy gets a certificate of its own instead of the upstream's. */
  ownProxyCertificate?: boolean;
  config?: Partial<Config>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const cluster = await startCluster();
  const certDir = options.tls || options.upstreamTls ? makeCertificate() : null;
  const upstreamCertDir = options.upstreamTls ? (options.ownProxyCertificate ? makeCertificate() : certDir) : null;
  const removeCerts = () => {
    for (const dir of new Set([certDir, upstreamCertDir])) if (dir) rmSync(dir, { recursive: true, force: true });
  };
  let proxy: ProxyServer;
  const vectorDir = mkdtempSync(join(tmpdir(), 'vectorgate-vectors-'));
  let collections: Collections | null = null;
  const closeVectors = async () => {
    await collections?.close();
    rmSync(vectorDir, { recursive: true, force: true });
  };
  try {
    if (upstreamCertDir) await enableUpstreamTls(cluster, upstreamCertDir);
    const config = makeConfig({
      listenPort: 0,
      upstreamPort: cluster.port,
      logLevel: 'silent',
      metricsPort: 0,
      ...(options.tls ? { tlsCertFile: join(certDir!, 'cert.pem'), tlsKeyFile: join(certDir!, 'key.pem') } : {}),
      ...(options.upstreamTls ? { upstreamTls: true, upstreamTlsCaFile: join(upstreamCertDir!, 'cert.pem') } : {}),
      ...options.config,
    });
    collections = await Collections.open(vectorDir, config);
    proxy = await startProxy(config, createMetrics(), createLogger(config.logLevel), collections);
  } catch (err) {
    await closeVectors();
    await cluster.stop();
    removeCerts();
    throw err;
  }
  return {
    cluster,
    proxy,
    collections: collections!,
    app: collections!.in(DATABASE),
    proxyPort: proxy.port,
    proxyHost: '127.0.0.1',
    ...(certDir ? { tls: { caFile: join(certDir, 'cert.pem') } } : {}),
    async stop() {
      await proxy.close();
      await closeVectors();
      await cluster.stop();
      removeCerts();
    },
  };
}

/** Turns on ssl in the running cluster (a reload is enough), with the test certificate. */
async function enableUpstreamTls(cluster: TestCluster, certDir: string): Promise<void> {
  const dataDir = cluster.server.dataDir;
  for (const file of ['cert.pem', 'key.pem']) {
    copyFileSync(join(certDir, file), join(dataDir, file));
    chmodSync(join(dataDir, file), 0o600);
    if (cluster.server.osUser) spawnSync('chown', [cluster.server.osUser, join(dataDir, file)]);
  }
  const admin = await cluster.admin();
  try {
    await admin.query(`ALTER SYSTEM SET ssl_cert_file = 'cert.pem'`);
    await admin.query(`ALTER SYSTEM SET ssl_key_file = 'key.pem'`);
    await admin.query('ALTER SYSTEM SET ssl = on');
    await admin.query('SELECT pg_reload_conf()');
  } finally {
    await admin.end();
  }
}

/** A self-signed certificate for 127.0.0.1/localhost, made at test time with openssl. */
function makeCertificate(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vectorgate-tls-'));
  const config = join(dir, 'openssl.cnf');
  writeFileSync(config, [
    '[req]', 'distinguished_name=dn', 'x509_extensions=ext', 'prompt=no',
    '[dn]', 'CN=localhost',
    '[ext]', 'subjectAltName=DNS:localhost,IP:127.0.0.1', 'basicConstraints=critical,CA:TRUE',
  ].join('\n'));
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-config', config], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
  return dir;
}

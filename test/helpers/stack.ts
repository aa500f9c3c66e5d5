// PostgreSQL plus a vectorgate proxy in front of it, as the client tests use them. stop() stops both.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type TestCluster } from './cluster.ts';
import { makeConfig, type Config } from '../../src/config.ts';
import { startProxy, type ProxyServer } from '../../src/wire/server.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createLogger } from '../../src/log.ts';

export interface Stack {
  cluster: TestCluster;
  proxy: ProxyServer;
  proxyPort: number;
  proxyHost: '127.0.0.1';
  tls?: { caFile: string };
  stop(): Promise<void>;
}

export interface StackOptions {
  tls?: boolean;
  config?: Partial<Config>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const cluster = await startCluster();
  const certDir = options.tls ? makeCertificate() : null;
  let proxy: ProxyServer;
  try {
    const config = makeConfig({
      listenPort: 0,
      upstreamPort: cluster.port,
      logLevel: 'silent',
      metricsPort: 0,
      ...(certDir ? { tlsCertFile: join(certDir, 'cert.pem'), tlsKeyFile: join(certDir, 'key.pem') } : {}),
      ...options.config,
    });
    proxy = await startProxy(config, createMetrics(), createLogger(config.logLevel));
  } catch (err) {
    await cluster.stop();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
    throw err;
  }
  return {
    cluster,
    proxy,
    proxyPort: proxy.port,
    proxyHost: '127.0.0.1',
    ...(certDir ? { tls: { caFile: join(certDir, 'cert.pem') } } : {}),
    async stop() {
      await proxy.close();
      await cluster.stop();
      if (certDir) rmSync(certDir, { recursive: true, force: true });
    },
  };
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

// Serves Prometheus metrics at GET /metrics. On loopback by default; anywhere else it needs a bearer
// token (Config.metricsBearerToken): the per-tenant series name roles, which is not for everyone.
// https://datatracker.ietf.org/doc/html/rfc6750#section-2.1
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { ProxyMetrics } from '../metrics.ts';

export interface MetricsEndpoint {
  host: string;
  /** 0 disables the endpoint. */
  port: number;
  /** When set, requests need `Authorization: Bearer <token>`. */
  bearerToken: string | null;
}

/** A loopback address (or `localhost`): only this host can reach it. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  const v6 = host.toLowerCase();
  return v6 === '::1' || v6.startsWith('::ffff:127.');
}

/** Refuses, before anything starts, an endpoint others can reach without a token. */
export function checkMetricsEndpoint(endpoint: MetricsEndpoint): void {
  if (endpoint.port === 0 || endpoint.bearerToken || isLoopbackHost(endpoint.host)) return;
  throw new Error(`the metrics endpoint would listen on ${endpoint.host}, which is not a loopback address, without a token: ` +
    'set metricsBearerToken (VECTORGATE_METRICS_BEARER_TOKEN) so that GET /metrics needs "Authorization: Bearer <token>", ' +
    'or listen on loopback (--metrics-listen 127.0.0.1:9187)');
}

/** Compares digests, so neither the token's length nor its bytes show in the time taken. */
function authorized(req: IncomingMessage, token: string | null): boolean {
  if (!token) return true;
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(.+)$/i.exec(header);
  if (match === null) return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(match[1]!.trim()), digest(token));
}

export async function startMetricsServer(metrics: ProxyMetrics, endpoint: MetricsEndpoint): Promise<Server | null> {
  checkMetricsEndpoint(endpoint);
  if (endpoint.port === 0) return null;
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    if (!authorized(req, endpoint.bearerToken)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="vectorgate metrics"' }).end();
      return;
    }
    metrics.registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(endpoint.port, endpoint.host, () => resolve());
  });
  return server;
}

// Serves Prometheus metrics at GET /metrics.
import { createServer, type Server } from 'node:http';
import type { ProxyMetrics } from '../metrics.ts';

export async function startMetricsServer(metrics: ProxyMetrics, host: string, port: number): Promise<Server | null> {
  if (port === 0) return null;
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

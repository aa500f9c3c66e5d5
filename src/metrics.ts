// Prometheus metrics (prom-client), served by src/cli/metrics-server.ts. The per-statement counters are
// plain numbers copied into prom-client when scraped, and pass-through latency is observed for one
// round trip in ROUND_TRIP_SAMPLE: prom-client's own bookkeeping cost ~5 µs a statement (bench/README.md).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ProxyMetrics {
  registry: Registry;
  connections: Gauge;
  connectionsTotal: Counter;
  connectionsRejected: Counter;
  statementsUpstream: { inc(): void };
  statementsLocal: { inc(): void };
  roundTripUpstream: { observe(seconds: number): void };
  statementLocal: { observe(seconds: number): void };
  protocolErrors: Counter;
  /** Set by the proxy: the bytes each open session holds for its client (Session.bufferedBytes). */
  sessionBuffers: { read: () => number[] };
}

/** One pass-through round trip in this many is timed. */
export const ROUND_TRIP_SAMPLE = 16;

export function createMetrics(): ProxyMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vectorgate_' });
  const counts = { passthrough: 0, local: 0 };
  new Counter({
    name: 'vectorgate_statements_total', help: 'Statements by route: local (answered by vectorgate) or passthrough',
    labelNames: ['route'], registers: [registry],
    collect() {
      this.reset();
      this.inc({ route: 'passthrough' }, counts.passthrough);
      this.inc({ route: 'local' }, counts.local);
    },
  });
  const latency = new Histogram({
    name: 'vectorgate_statement_seconds', help: 'Time from the request to its ReadyForQuery (passthrough) or result (local)',
    labelNames: ['route'], registers: [registry],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
  });
  const sessionBuffers = { read: (): number[] => [] };
  new Gauge({
    name: 'vectorgate_client_buffered_bytes', help: 'Bytes held for all clients: queued messages, responses not yet sent or not yet read',
    registers: [registry],
    collect() { this.set(sessionBuffers.read().reduce((sum, n) => sum + n, 0)); },
  });
  new Gauge({
    name: 'vectorgate_client_buffered_bytes_max', help: 'Bytes held for the one client holding most (bounded by maxClientBacklogBytes and maxHeldClientBytes)',
    registers: [registry],
    collect() { this.set(sessionBuffers.read().reduce((max, n) => Math.max(max, n), 0)); },
  });
  return {
    registry,
    sessionBuffers,
    connections: new Gauge({ name: 'vectorgate_client_connections', help: 'Open client connections', registers: [registry] }),
    connectionsTotal: new Counter({ name: 'vectorgate_client_connections_total', help: 'Client connections accepted', registers: [registry] }),
    connectionsRejected: new Counter({ name: 'vectorgate_client_connections_rejected_total', help: 'Client connections refused at the connection limit', registers: [registry] }),
    statementsUpstream: { inc: () => { counts.passthrough++; } },
    statementsLocal: { inc: () => { counts.local++; } },
    roundTripUpstream: latency.labels('passthrough'),
    statementLocal: latency.labels('local'),
    protocolErrors: new Counter({ name: 'vectorgate_protocol_errors_total', help: 'Connections ended for malformed frontend messages', registers: [registry] }),
  };
}

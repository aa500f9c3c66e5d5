// Prometheus metrics (prom-client), served by src/cli/metrics-server.ts. The per-statement counters are
// plain numbers copied into prom-client when scraped, and pass-through latency is observed for one
// round trip in ROUND_TRIP_SAMPLE: prom-client's own bookkeeping cost ~5 µs a statement (bench/README.md).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DEFAULTS } from './config.ts';
import type { SearchPipelineStats } from './router/search-pipeline.ts';

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
  /** Per tenant (login role): vector statements, their latency, and refusals by limit. */
  tenants: TenantMetrics;
  /** Set by the proxy: the search pipeline's counters (cache, coalescing, warmup); null without collections. */
  search: { read: () => SearchPipelineStats | null };
  /** One rerank ended (fellBack null: its order was used). */
  reranked(kind: string, seconds: number, fellBack: string | null): void;
}

export interface TenantMetrics {
  /** A vector statement of `role` ended; `kind`: search, write, create or other. */
  statement(role: string, kind: string, seconds: number): void;
  /** A statement of `role` was refused (53400) by a quota; `limit` without the `vectorgate.` prefix. */
  rejection(role: string, limit: string): void;
}

/** Role label given to roles past the first `maxRoles` seen, so the series stay bounded. */
export const OTHER_ROLES_LABEL = 'other';

/** One pass-through round trip in this many is timed. */
export const ROUND_TRIP_SAMPLE = 16;

export interface MetricsOptions {
  /** Distinct role labels of the tenant metrics (Config.maxTenantMetricRoles). */
  maxTenantMetricRoles?: number;
}

export function createMetrics(options: MetricsOptions = {}): ProxyMetrics {
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
  const search = { read: (): SearchPipelineStats | null => null };
  searchPipelineMetrics(registry, search);
  return {
    registry,
    sessionBuffers,
    search,
    reranked: rerankMetrics(registry),
    connections: new Gauge({ name: 'vectorgate_client_connections', help: 'Open client connections', registers: [registry] }),
    connectionsTotal: new Counter({ name: 'vectorgate_client_connections_total', help: 'Client connections accepted', registers: [registry] }),
    connectionsRejected: new Counter({ name: 'vectorgate_client_connections_rejected_total', help: 'Client connections refused at the connection limit', registers: [registry] }),
    statementsUpstream: { inc: () => { counts.passthrough++; } },
    statementsLocal: { inc: () => { counts.local++; } },
    roundTripUpstream: latency.labels('passthrough'),
    statementLocal: latency.labels('local'),
    protocolErrors: new Counter({ name: 'vectorgate_protocol_errors_total', help: 'Connections ended for malformed frontend messages', registers: [registry] }),
    tenants: tenantMetrics(registry, options.maxTenantMetricRoles ?? DEFAULTS.maxTenantMetricRoles),
  };
}

/**
 * vectorgate_tenant_*: the first `maxRoles` roles seen get their own label, later ones share `other`,
 * so a proxy with many roles cannot grow the series without bound (kinds and limits are fixed sets).
 */
function tenantMetrics(registry: Registry, maxRoles: number): TenantMetrics {
  const statements = new Counter({
    name: 'vectorgate_tenant_statements_total', help: 'Vector statements per tenant (login role) and kind: search, write, create, other',
    labelNames: ['role', 'kind'], registers: [registry],
  });
  const rejections = new Counter({
    name: 'vectorgate_tenant_rejections_total', help: 'Statements refused with 53400 per tenant and limit (vectorgate.max_…)',
    labelNames: ['role', 'limit'], registers: [registry],
  });
  const latency = new Histogram({
    name: 'vectorgate_tenant_statement_seconds', help: 'Time a vector statement of the tenant ran',
    labelNames: ['role'], registers: [registry],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
  });
  const labelled = new Set<string>();
  const label = (role: string): string => {
    if (labelled.has(role)) return role;
    if (labelled.size >= maxRoles) return OTHER_ROLES_LABEL;
    labelled.add(role);
    return role;
  };
  return {
    statement(role, kind, seconds) {
      const r = label(role);
      statements.inc({ role: r, kind });
      latency.observe({ role: r }, seconds);
    },
    rejection(role, limit) {
      rejections.inc({ role: label(role), limit });
    },
  };
}

/** vectorgate_search_*: the search cache, coalescing and warmup, read from the pipeline when scraped. */
function searchPipelineMetrics(registry: Registry, search: { read: () => SearchPipelineStats | null }): void {
  const gauge = (name: string, help: string, value: (s: SearchPipelineStats) => number) => new Gauge({
    name, help, registers: [registry], collect() { const s = search.read(); this.set(s === null ? 0 : value(s)); },
  });
  const counter = (name: string, help: string, value: (s: SearchPipelineStats) => number) => new Counter({
    name, help, registers: [registry], collect() { const s = search.read(); this.reset(); this.inc(s === null ? 0 : value(s)); },
  });
  gauge('vectorgate_search_cache_bytes', 'Bytes the search cache holds (at most searchCacheMaxBytes)', (s) => s.cache.bytes);
  gauge('vectorgate_search_cache_entries', 'Answers the search cache holds', (s) => s.cache.entries);
  counter('vectorgate_search_cache_hits_total', 'Searches answered from the search cache', (s) => s.cache.hits);
  counter('vectorgate_search_cache_misses_total', 'Cacheable searches the cache could not answer', (s) => s.cache.misses);
  counter('vectorgate_search_cache_evictions_total', 'Answers evicted from the search cache to stay within searchCacheMaxBytes', (s) => s.cache.evictions);
  counter('vectorgate_search_coalesced_total', 'Searches that shared the execution of an identical one in flight', (s) => s.coalesced);
  counter('vectorgate_search_warmup_runs_total', 'Searches re-run in the background to warm the cache', (s) => s.warmup.runs);
  counter('vectorgate_search_warmup_failures_total', 'Warmup runs that failed (e.g. a collection still recovering)', (s) => s.warmup.failures);
}

/** vectorgate_rerank_*: reranks and fallbacks by cause per reranker kind (fixed sets: bounded series), and their latency. */
function rerankMetrics(registry: Registry): ProxyMetrics['reranked'] {
  const reranks = new Counter({ name: 'vectorgate_reranks_total', help: 'Reranks by reranker (bm25, http, cohere), whether or not they fell back', labelNames: ['reranker'], registers: [registry] });
  const fallbacks = new Counter({
    name: 'vectorgate_rerank_fallbacks_total', help: 'Reranks that fell back to vector order, by reranker and cause (timeout, error, circuit_open)',
    labelNames: ['reranker', 'cause'], registers: [registry],
  });
  const latency = new Histogram({
    name: 'vectorgate_rerank_seconds', help: 'Time the rerank step took, fallbacks included', labelNames: ['reranker'], registers: [registry],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
  });
  return (kind, seconds, fellBack) => {
    reranks.inc({ reranker: kind });
    latency.observe({ reranker: kind }, seconds);
    if (fellBack !== null) fallbacks.inc({ reranker: kind, cause: fellBack });
  };
}

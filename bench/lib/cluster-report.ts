// The cluster benchmark's table (markdown, printed and written to results/cluster-<date>.md) and its
// chart (results/cluster.svg: write MB/s through the proxies vs raw etcd, search QPS per deployment).
import { median, type SearchPoint } from './cluster-search.ts';
import type { FailoverRun } from './cluster-failover.ts';
import type { WriteResult } from './cluster-write.ts';

export interface ClusterReport {
  header: string[];
  writes: WriteResult | null;
  search: SearchPoint[];
  searchNote: string;
  grpcHop: string | null;
  failover: FailoverRun[];
  leaseTtlSeconds: number;
}

const f = (x: number, digits = 0) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function writeSection(w: WriteResult): string[] {
  const proxy = median(w.rounds.map((r) => r.proxyMBps));
  const raw = median(w.rounds.map((r) => r.rawMBps));
  const ratio = proxy / raw;
  return [
    '## 1. Write throughput: proxies vs raw etcd guarded appends', '',
    `${w.clients} clients, binary COPY of ${f(w.rowsPerClient)} rows each at once, spread over ${w.proxies} proxies; every transaction ${w.shape.parts} shard parts × ${w.shape.recordsPerPart} record(s) of ${f(w.shape.recordBytes)} B. ` +
    `Raw: the same transactions (compare next, put records, put next) from ${w.clients} writers in this process, each on logs of its own. MB/s = record bytes stored in etcd per second. Median of ${w.rounds.length} rounds (proxies, then raw, per round).`, '',
    '| target | MB/s | vectors/s | transactions/s | per round MB/s |', '|---|---:|---:|---:|---|',
    `| through the proxies | ${f(proxy, 1)} | ${f(median(w.rounds.map((r) => r.proxyVectorsPerSec)))} | ${f(median(w.rounds.map((r) => r.proxyTxnsPerSec)), 1)} | ${w.rounds.map((r) => f(r.proxyMBps, 1)).join(', ')} |`,
    `| the same clients all through one proxy | ${f(median(w.rounds.map((r) => r.oneProxyMBps)), 1)} | ${f(median(w.rounds.map((r) => r.oneProxyVectorsPerSec)))} | — | ${w.rounds.map((r) => f(r.oneProxyMBps, 1)).join(', ')} |`,
    `| raw etcd guarded append, ${w.clients} writers | ${f(raw, 1)} | — | ${f(median(w.rounds.map((r) => r.rawTxnsPerSec)), 1)} | ${w.rounds.map((r) => f(r.rawMBps, 1)).join(', ')} |`,
    `| raw etcd guarded append, 1 writer (one transaction in flight) | ${f(median(w.rounds.map((r) => r.rawOneMBps)), 1)} | — | — | ${w.rounds.map((r) => f(r.rawOneMBps, 1)).join(', ')} |`, '',
    `Proxies' CPU (utime + stime, both together, over the two-proxy rounds): ${f((w.proxyCpuMs * 1000) / (w.rounds.length * w.clients * w.rowsPerClient), 1)} µs per vector written.`, '',
    `**Ratio proxies / raw: ${f(ratio * 100, 0)} %** (target ≥ 80 %: ${ratio >= 0.8 ? 'met' : 'not met'}); all through one proxy: ${f((median(w.rounds.map((r) => r.oneProxyMBps)) / raw) * 100, 0)} %. ` +
    'Over both proxies every COPY batch touches both shards, so the proxies race for the same `next` keys: a lost guard is re-read and retried with backoff. ' +
    'A proxy sends one transaction at a time per shard log (EtcdLogWriter queues a process\'s appends to a log), so one proxy cannot go faster than the 1-writer raw row; the 4-writer raw row pipelines 4 transactions.', '',
  ];
}

function searchSection(points: SearchPoint[], note: string): string[] {
  const embedded = (c: number) => points.find((p) => p.target === 'embedded' && p.connections === c);
  const lines = [
    '## 2. Search QPS and recall@10', '', note, '',
    '| target | connections | QPS (median) | × embedded | recall@10 | mean ms | vectorgate CPU µs/query | QPS per round |', '|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const p of points) {
    const e = embedded(p.connections);
    const ratio = e === undefined ? NaN : median(p.qps) / median(e.qps);
    lines.push(`| ${p.target} | ${p.connections} | ${f(median(p.qps))} | ${f(ratio, 2)} | ${f(p.recall, 3)} | ${f(p.meanMs, 2)} | ${f(p.cpuUsPerQuery)} | ${p.qps.map((q) => f(q)).join(', ')} |`);
  }
  const one = points.filter((p) => p.target === 'cluster, 1 worker');
  const verdict = one.map((p) => `${p.connections} connection(s): ${f(median(p.qps) / median(embedded(p.connections)!.qps), 2)}×`).join(', ');
  lines.push('', `**Cluster at 1 worker vs embedded: ${verdict}** (target ≥ 0.8×).`, '');
  return lines;
}

function failoverSection(runs: FailoverRun[], ttl: number): string[] {
  const ms = runs.map((r) => r.failoverMs);
  const max = Math.max(...ms);
  const target = ttl * 1000 + 1000;
  return [
    '## 4. Failover: SIGKILL of a worker → first search answered by another replica', '',
    `3 workers, collection with 1 shard × 2 replicas, one connection searching in a tight loop (k=10), workerLeaseTtlSeconds ${ttl}; the killed worker is restarted after its lease expired and both replicas serve again before the next repetition.`, '',
    'failover ms = kill → first successful search *sent after* the kill; first answer ms = kill → first successful answer of any search (one in flight at the kill included).', '',
    '| repetition | killed worker | failover ms | first answer ms | longest search ms | errors / searches |', '|---:|---|---:|---:|---:|---|',
    ...runs.map((r, i) => `| ${i + 1} | ${r.killed} | ${f(r.failoverMs, 1)} | ${f(r.firstAnswerMs, 1)} | ${f(r.longestSearchMs, 1)} | ${r.errors} / ${r.searches} |`), '',
    `**Median ${f(median(ms), 1)} ms, max ${f(max, 1)} ms** (target: under the lease TTL + 1 s = ${f(target)} ms: ${max < target ? 'met' : 'not met'}).`, '',
  ];
}

export function markdown(r: ClusterReport): string {
  return [
    ...r.header, '',
    ...(r.writes === null ? [] : writeSection(r.writes)),
    ...(r.search.length === 0 ? [] : searchSection(r.search, r.searchNote)),
    ...(r.grpcHop === null ? [] : ['## 3. The gRPC hop vs the worker_threads hop (bench/grpc-hop.ts)', '', r.grpcHop.trim(), '']),
    ...(r.failover.length === 0 ? [] : failoverSection(r.failover, r.leaseTtlSeconds)),
  ].join('\n');
}

/** Two bar panels: write MB/s (proxies, raw) and search QPS per deployment and connection count. */
export function svgChart(r: ClusterReport): string {
  const panels: { title: string; bars: { label: string; value: number }[] }[] = [];
  if (r.writes !== null) {
    panels.push({ title: 'write MB/s', bars: [
      { label: '2 proxies', value: median(r.writes.rounds.map((x) => x.proxyMBps)) },
      { label: '1 proxy', value: median(r.writes.rounds.map((x) => x.oneProxyMBps)) },
      { label: 'raw etcd', value: median(r.writes.rounds.map((x) => x.rawMBps)) },
      { label: 'raw, 1 writer', value: median(r.writes.rounds.map((x) => x.rawOneMBps)) },
    ] });
  }
  if (r.search.length > 0) panels.push({ title: 'search QPS', bars: r.search.map((p) => ({ label: `${p.target.replace('cluster, ', '')} ×${p.connections}`, value: median(p.qps) })) });
  const barWidth = 46;
  const gap = 14;
  const height = 220;
  const top = 40;
  const panelWidths = panels.map((p) => p.bars.length * (barWidth + gap) + 60);
  const width = panelWidths.reduce((a, b) => a + b, 0) + 20;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + height + 70}" font-family="sans-serif" font-size="10">`,
    `<text x="10" y="16" font-size="13">vectorgate cluster benchmark (search: ×N = N client connections)</text>`];
  let x0 = 20;
  panels.forEach((panel, i) => {
    const max = Math.max(...panel.bars.map((b) => b.value), 1e-9);
    out.push(`<text x="${x0}" y="${top - 8}" font-size="12">${panel.title}</text>`);
    out.push(`<line x1="${x0}" y1="${top + height}" x2="${x0 + panelWidths[i]! - 40}" y2="${top + height}" stroke="#333"/>`);
    panel.bars.forEach((bar, j) => {
      const h = (bar.value / max) * height;
      const x = x0 + 10 + j * (barWidth + gap);
      out.push(`<rect x="${x}" y="${(top + height - h).toFixed(1)}" width="${barWidth}" height="${h.toFixed(1)}" fill="${j % 2 ? '#e8912d' : '#3b6ea8'}"/>`);
      out.push(`<text x="${x + barWidth / 2}" y="${(top + height - h - 3).toFixed(1)}" text-anchor="middle">${f(bar.value, bar.value < 100 ? 1 : 0)}</text>`);
      out.push(`<text x="${x + barWidth / 2}" y="${top + height + 12}" text-anchor="middle" transform="rotate(30 ${x + barWidth / 2} ${top + height + 12})">${bar.label}</text>`);
    });
    x0 += panelWidths[i]!;
  });
  out.push('</svg>');
  return out.join('\n');
}

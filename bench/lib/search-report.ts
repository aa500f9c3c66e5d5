// The search benchmark's table (text and markdown) and its recall–QPS plot (hand-written SVG).
export interface Measurement {
  target: string;
  connections: number;
  ef: number;
  qps: number;
  /** Mean time of one query as its connection saw it. */
  meanMs: number;
  recall: number;
  /** CPU time of the proxy process (all threads) per query, µs; absent for in-process targets. */
  proxyCpuUs?: number;
}

export interface Summary { label: string; value: string }

export interface AtRecall { qps: number; how: string }

/**
 * A curve's QPS at exactly recall `target`: log-QPS interpolated linearly in recall between the two ef
 * values whose recalls bracket it, or a measured point at or above it if that is faster (NaN when no
 * ef reaches it). When even the smallest ef is above the target, that point's QPS is a lower bound.
 */
export function qpsAtRecall(points: Measurement[], target: number): AtRecall {
  const sorted = [...points].sort((a, b) => a.ef - b.ef);
  let best: AtRecall = { qps: NaN, how: `recall ${target} not reached` };
  const consider = (qps: number, how: string) => { if (!(qps <= best.qps)) best = { qps, how }; };
  sorted.forEach((p, i) => {
    if (p.recall >= target) consider(p.qps, i === 0 ? `≥, ef ${p.ef} already at ${p.recall.toFixed(3)}` : `ef ${p.ef}`);
    const next = sorted[i + 1];
    if (next && p.recall < target && next.recall >= target) {
      const t = (target - p.recall) / (next.recall - p.recall);
      consider(Math.exp(Math.log(p.qps) + t * (Math.log(next.qps) - Math.log(p.qps))), `between ef ${p.ef} and ${next.ef}`);
    }
  });
  return best;
}

export function seriesName(m: Pick<Measurement, 'target' | 'connections'>): string {
  return `${m.target}, ${m.connections} conn${m.connections === 1 ? '' : 's'}`;
}

export function seriesOf(rows: Measurement[]): { name: string; points: Measurement[] }[] {
  const names = [...new Set(rows.map(seriesName))];
  return names.map((name) => ({ name, points: rows.filter((r) => seriesName(r) === name).sort((a, b) => a.ef - b.ef) }));
}

const HEADERS = ['target', 'conns', 'ef', 'QPS', 'mean ms', 'recall@10', 'proxy CPU µs/query'];

function cells(m: Measurement): string[] {
  return [m.target, String(m.connections), String(m.ef), m.qps.toFixed(0), m.meanMs.toFixed(3), m.recall.toFixed(4), m.proxyCpuUs === undefined ? '—' : m.proxyCpuUs.toFixed(0)];
}

export function textTable(rows: Measurement[]): string {
  const data = rows.map(cells);
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...data.map((d) => d[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
  return [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  '), ...data.map(line)].join('\n');
}

export function markdownTable(rows: Measurement[]): string {
  const out = [`| ${HEADERS.join(' | ')} |`, `| --- |${HEADERS.slice(1).map(() => ' ---: |').join('')}`];
  for (const r of rows) out.push(`| ${cells(r).join(' | ')} |`);
  return out.join('\n');
}

export function summaryMarkdown(summary: Summary[]): string {
  return ['| measure | value |', '| --- | --- |', ...summary.map((s) => `| ${s.label} | ${s.value} |`)].join('\n');
}

const COLORS = ['#4c78a8', '#f58518', '#e45756', '#54a24b', '#b279a2', '#9d755d', '#72b7b2'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Recall@10 on x, QPS on a log y axis, one line per target and connection count, points labelled by ef. */
export function svgPlot(rows: Measurement[], title: string): string {
  const left = 70, top = 50, width = 640, height = 380, legendWidth = 230;
  const series = seriesOf(rows);
  const recalls = rows.map((r) => r.recall);
  const xMin = Math.max(0, Math.floor(Math.min(...recalls) * 20) / 20), xMax = 1;
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...rows.map((r) => r.qps)))), yMax = 10 ** Math.ceil(Math.log10(Math.max(...rows.map((r) => r.qps))));
  const x = (v: number) => left + ((v - xMin) / (xMax - xMin)) * width;
  const y = (v: number) => top + height - ((Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * height;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + legendWidth + 20}" height="${top + height + 60}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${left}" y="36" fill="#555">QPS (log scale) against recall@10; labels are ef; dashed line: recall 0.95</text>`,
  ];
  for (let v = yMin; v <= yMax; v *= 10) {
    for (const mul of [1, 2, 5]) {
      if (v * mul > yMax) break;
      parts.push(`<line x1="${left}" x2="${left + width}" y1="${y(v * mul)}" y2="${y(v * mul)}" stroke="${mul === 1 ? '#ccc' : '#eee'}"/>`);
      parts.push(`<text x="${left - 6}" y="${y(v * mul) + 4}" text-anchor="end">${(v * mul).toLocaleString('en-US')}</text>`);
    }
  }
  for (let v = xMin; v <= xMax + 1e-9; v += 0.05) {
    parts.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${top}" y2="${top + height}" stroke="#eee"/>`);
    parts.push(`<text x="${x(v)}" y="${top + height + 16}" text-anchor="middle">${v.toFixed(2)}</text>`);
  }
  parts.push(`<line x1="${x(0.95)}" x2="${x(0.95)}" y1="${top}" y2="${top + height}" stroke="#999" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="${left + width / 2}" y="${top + height + 36}" text-anchor="middle">recall@10</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${s.points.map((p) => `${x(p.recall).toFixed(1)},${y(p.qps).toFixed(1)}`).join(' ')}"/>`);
    for (const p of s.points) {
      parts.push(`<circle cx="${x(p.recall).toFixed(1)}" cy="${y(p.qps).toFixed(1)}" r="3" fill="${color}"><title>${esc(`${s.name} ef=${p.ef}: ${p.qps.toFixed(0)} QPS, recall ${p.recall.toFixed(4)}`)}</title></circle>`);
      parts.push(`<text x="${(x(p.recall) + 4).toFixed(1)}" y="${(y(p.qps) - 5).toFixed(1)}" font-size="9" fill="${color}">${p.ef}</text>`);
    }
    const ly = top + 10 + i * 18;
    parts.push(`<rect x="${left + width + 20}" y="${ly - 9}" width="12" height="12" fill="${color}"/><text x="${left + width + 38}" y="${ly + 1}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

// --synthetic N1,N2,…: one line per size and vectorgate kind — QPS at recall@10 0.95 of every target,
// load and build times, bytes per vector — as text, markdown and a log–log SVG of QPS against N.
import { rawTarget, type RawFigures } from './search-raw.ts';
import { vectorgateTarget, type DatasetResult } from './search-run.ts';
import { qpsAt } from './search-summary.ts';
import { seriesName } from './search-report.ts';

/** One size's figures; the raw indexes themselves are let go, so earlier sizes do not hold memory during later ones. */
export interface ScaleEntry { rows: number; queries: number; truthSource: string; result: Omit<DatasetResult, 'raws'> & { raws: RawFigures[] } }

const RECALL = 0.95;
const fmt = (n: number, digits = 0) => (Number.isNaN(n) ? '—' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));

export function scaleGrid(entries: ScaleEntry[], connectionCounts: number[]): string[][] {
  const conns = (name: string) => connectionCounts.map((c) => `${name} ${c}c`);
  const header = ['N', 'kind', 'raw build s (this kind, else f32)', 'vectorgate load s', 'pgvector COPY+INDEX s', 'raw 1c', ...conns('vectorgate'), ...conns('pgvector'),
    'RSS B/vector after restart', 'disk B/vector', 'pgvector B/vector', 'crash: accepted / first search / indexed ms'];
  const out = [header];
  for (const { rows: n, result } of entries) {
    const pgv = result.pgvector;
    for (const k of result.kinds) {
      const raw = result.raws.find((r) => r.kind === k.kind) ?? result.raws.find((r) => r.kind === 'f32');
      const rawQps = raw ? fmt(qpsAt(result.rows, rawTarget(raw.kind), 1, RECALL)) : '—';
      const pgCells = connectionCounts.map((c) => (pgv ? fmt(qpsAt(result.rows, 'pgvector', c, RECALL)) : 'skipped'));
      const pgCols = [pgv ? (pgv.copySeconds + pgv.indexSeconds).toFixed(1) : 'skipped'];
      if ('refused' in k) {
        out.push([fmt(n), k.kind, raw ? raw.buildSeconds.toFixed(1) : '—', `refused: ${k.refused}`, ...pgCols, rawQps, ...connectionCounts.map(() => '—'), ...pgCells, '—', '—', pgv ? fmt(pgv.bytesPerVector) : '—', '—']);
        continue;
      }
      out.push([fmt(n), k.kind, raw ? raw.buildSeconds.toFixed(1) : '—', k.loadSeconds.toFixed(1), ...pgCols, rawQps,
        ...connectionCounts.map((c) => fmt(qpsAt(result.rows, vectorgateTarget(k.kind), c, RECALL))), ...pgCells,
        fmt(k.rssAfterRestartPerVector), fmt(k.diskBytesPerVector), pgv ? fmt(pgv.bytesPerVector) : '—', `${fmt(k.crashAcceptedMs)} / ${fmt(k.crashReadyMs)} / ${fmt(k.crashIndexedMs)}`]);
    }
  }
  return out;
}

const COLORS = ['#4c78a8', '#f58518', '#e45756', '#54a24b', '#b279a2', '#9d755d', '#72b7b2', '#ff9da6'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** QPS at recall 0.95 against N, both log scales, one line per target and connection count. */
export function scaleSvg(entries: ScaleEntry[], title: string): string {
  const names = [...new Set(entries.flatMap((e) => e.result.rows.map(seriesName)))];
  const series = names.map((name) => ({
    name,
    points: entries.map((e) => {
      const m = e.result.rows.find((r) => seriesName(r) === name);
      return { n: e.rows, qps: m ? qpsAt(e.result.rows, m.target, m.connections, RECALL) : NaN };
    }).filter((p) => Number.isFinite(p.qps)),
  })).filter((s) => s.points.length > 0);
  const left = 70, top = 50, width = 600, height = 360, legend = 240;
  const ns = entries.map((e) => e.rows), qs = series.flatMap((s) => s.points.map((p) => p.qps));
  const lx = (v: number) => Math.log10(v);
  const xMin = Math.floor(lx(Math.min(...ns))), xMax = Math.max(xMin + 1, Math.ceil(lx(Math.max(...ns))));
  const yMin = Math.floor(lx(Math.min(...qs, 10))), yMax = Math.max(yMin + 1, Math.ceil(lx(Math.max(...qs, 10))));
  const x = (v: number) => left + ((lx(v) - xMin) / (xMax - xMin)) * width;
  const y = (v: number) => top + height - ((lx(v) - yMin) / (yMax - yMin)) * height;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + legend + 20}" height="${top + height + 60}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${left}" y="36" fill="#555">QPS at recall@10 ${RECALL} (interpolated between ef values) against the number of vectors; both axes log</text>`,
  ];
  for (let e = yMin; e <= yMax; e++) {
    parts.push(`<line x1="${left}" x2="${left + width}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#ddd"/>`, `<text x="${left - 6}" y="${y(10 ** e) + 4}" text-anchor="end">${(10 ** e).toLocaleString('en-US')}</text>`);
  }
  for (let e = xMin; e <= xMax; e++) {
    parts.push(`<line x1="${x(10 ** e)}" x2="${x(10 ** e)}" y1="${top}" y2="${top + height}" stroke="#eee"/>`, `<text x="${x(10 ** e)}" y="${top + height + 16}" text-anchor="middle">${(10 ** e).toLocaleString('en-US')}</text>`);
  }
  parts.push(`<text x="${left + width / 2}" y="${top + height + 36}" text-anchor="middle">vectors</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${s.points.map((p) => `${x(p.n).toFixed(1)},${y(p.qps).toFixed(1)}`).join(' ')}"/>`);
    for (const p of s.points) parts.push(`<circle cx="${x(p.n).toFixed(1)}" cy="${y(p.qps).toFixed(1)}" r="3" fill="${color}"><title>${esc(`${s.name}, ${p.n}: ${p.qps.toFixed(0)} QPS`)}</title></circle>`);
    const ly = top + 10 + i * 18;
    parts.push(`<rect x="${left + width + 20}" y="${ly - 9}" width="12" height="12" fill="${color}"/><text x="${left + width + 38}" y="${ly + 1}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

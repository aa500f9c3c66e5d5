// Aggregating runs (median per configuration and target) and writing the table as text, markdown,
// JSON and an SVG bar chart.
import type { Mode } from './pgbench.ts';

export interface RunRecord {
  round: number;
  mode: Mode;
  clients: number;
  target: string;
  tps: number;
  latencyMs: number;
  transactions: number;
  /** CPU time of the proxy process (utime+stime) per transaction, µs; null for direct. */
  proxyCpuUsPerStatement: number | null;
  proxyUserUsPerStatement: number | null;
  proxySysUsPerStatement: number | null;
}

export interface Row {
  mode: Mode;
  clients: number;
  target: string;
  tps: number;
  latencyMs: number;
  ratio: number;
  addedUs: number;
  proxyCpuUs: number | null;
  tpsRuns: number[];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function aggregate(runs: RunRecord[], targets: string[]): Row[] {
  const rows: Row[] = [];
  const configs = [...new Set(runs.map((r) => `${r.mode}/${r.clients}`))];
  for (const config of configs) {
    const [mode, clients] = config.split('/') as [Mode, string];
    const of = (target: string) => runs.filter((r) => r.mode === mode && r.clients === Number(clients) && r.target === target);
    const direct = of('direct');
    const directTps = direct.length ? median(direct.map((r) => r.tps)) : NaN;
    const directLat = direct.length ? median(direct.map((r) => r.latencyMs)) : NaN;
    for (const target of targets) {
      const mine = of(target);
      if (mine.length === 0) continue;
      const tps = median(mine.map((r) => r.tps));
      const latencyMs = median(mine.map((r) => r.latencyMs));
      const cpu = mine.map((r) => r.proxyCpuUsPerStatement).filter((x): x is number => x !== null);
      rows.push({
        mode, clients: Number(clients), target, tps, latencyMs,
        ratio: tps / directTps,
        addedUs: (latencyMs - directLat) * 1000,
        proxyCpuUs: cpu.length ? median(cpu) : null,
        tpsRuns: mine.map((r) => r.tps),
      });
    }
  }
  return rows;
}

const HEADERS = ['mode', 'clients', 'target', 'TPS (median)', 'latency ms', 'ratio to direct', 'added µs/round trip', 'proxy CPU µs/stmt', 'TPS per round'];

function cells(r: Row): string[] {
  return [
    r.mode, String(r.clients), r.target,
    r.tps.toFixed(0), r.latencyMs.toFixed(3),
    r.target === 'direct' ? '1.00' : r.ratio.toFixed(2),
    r.target === 'direct' ? '—' : `${r.addedUs >= 0 ? '+' : ''}${r.addedUs.toFixed(1)}`,
    r.proxyCpuUs === null ? '—' : r.proxyCpuUs.toFixed(1),
    r.tpsRuns.map((t) => t.toFixed(0)).join(' / '),
  ];
}

export function textTable(rows: Row[]): string {
  const data = rows.map(cells);
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...data.map((d) => d[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i < 3 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
  const out = [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  ')];
  let last = '';
  for (let i = 0; i < rows.length; i++) {
    const key = `${rows[i]!.mode}/${rows[i]!.clients}`;
    if (last && key !== last) out.push('');
    last = key;
    out.push(line(data[i]!));
  }
  return out.join('\n');
}

export function markdownTable(rows: Row[]): string {
  const out = [`| ${HEADERS.join(' | ')} |`, `|${HEADERS.map((_, i) => (i < 3 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows) out.push(`| ${cells(r).join(' | ')} |`);
  return out.join('\n');
}

/** Verdict on the issue's target: vectorgate ≥ PgBouncer TPS at 8 clients, simple and extended. */
export function targetCheck(rows: Row[], clients = 8): { mode: Mode; vectorgate: number; pgbouncer: number; met: boolean }[] {
  const out = [];
  for (const mode of ['simple', 'extended'] as Mode[]) {
    const vg = rows.find((r) => r.mode === mode && r.clients === clients && r.target === 'vectorgate');
    const pb = rows.find((r) => r.mode === mode && r.clients === clients && r.target === 'pgbouncer');
    if (vg && pb) out.push({ mode, vectorgate: vg.tps, pgbouncer: pb.tps, met: vg.tps >= pb.tps });
  }
  return out;
}

const COLORS: Record<string, string> = { direct: '#4c78a8', vectorgate: '#f58518', pgbouncer: '#54a24b', nodepipe: '#b279a2' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Grouped bars: one group per mode × clients, one bar per target, TPS on the y axis. */
export function svgChart(rows: Row[], title: string): string {
  const groups = [...new Set(rows.map((r) => `${r.mode}/${r.clients}`))];
  const targets = [...new Set(rows.map((r) => r.target))];
  const bar = 26, gap = 6, groupGap = 34, left = 70, top = 50, height = 300, bottom = 60;
  const groupWidth = targets.length * bar + (targets.length - 1) * gap;
  const width = left + groups.length * (groupWidth + groupGap) + 20;
  const maxTps = Math.max(1, ...rows.map((r) => r.tps));
  const step = niceStep(maxTps / 5);
  const yMax = Math.ceil(maxTps / step) * step;
  const y = (v: number) => top + height - (v / yMax) * height;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + height + bottom + 24}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${left}" y="36" fill="#555">pgbench -S, TPS (median); label: ratio to direct</text>`,
  ];
  for (let v = 0; v <= yMax; v += step) {
    parts.push(`<line x1="${left}" x2="${width - 10}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toLocaleString('en-US')}</text>`);
  }
  groups.forEach((g, gi) => {
    const x0 = left + 16 + gi * (groupWidth + groupGap);
    const [mode, clients] = g.split('/');
    targets.forEach((t, ti) => {
      const r = rows.find((row) => `${row.mode}/${row.clients}` === g && row.target === t);
      if (!r) return;
      const x = x0 + ti * (bar + gap);
      parts.push(`<rect x="${x}" y="${y(r.tps)}" width="${bar}" height="${top + height - y(r.tps)}" fill="${COLORS[t] ?? '#999'}"><title>${esc(`${t} ${g}: ${r.tps.toFixed(0)} TPS, ${r.latencyMs.toFixed(3)} ms`)}</title></rect>`);
      parts.push(`<text x="${x + bar / 2}" y="${y(r.tps) - 4}" text-anchor="middle" font-size="10">${t === 'direct' ? '1.00' : r.ratio.toFixed(2)}</text>`);
    });
    parts.push(`<text x="${x0 + groupWidth / 2}" y="${top + height + 16}" text-anchor="middle">${esc(mode!)}</text>`);
    parts.push(`<text x="${x0 + groupWidth / 2}" y="${top + height + 30}" text-anchor="middle" fill="#555">${clients} client${clients === '1' ? '' : 's'}</text>`);
  });
  targets.forEach((t, ti) => {
    const x = left + ti * 110;
    const ly = top + height + bottom;
    parts.push(`<rect x="${x}" y="${ly - 10}" width="12" height="12" fill="${COLORS[t] ?? '#999'}"/><text x="${x + 16}" y="${ly}">${esc(t)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

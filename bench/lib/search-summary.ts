// The search benchmark's summary of one data set: load and index times side by side, crash replay and
// restart, the per-kind memory table, and QPS ratios at equal recall (0.90 / 0.95 / 0.99).
import type { Dataset } from './search-data.ts';
import { rawTarget, type Kind } from './search-raw.ts';
import { vectorgateTarget, type DatasetResult, type KindResult, type RunSettings } from './search-run.ts';
import { qpsAtRecall, seriesName, type AtRecall, type Measurement, type Summary } from './search-report.ts';

export const RECALL_TARGETS = [0.9, 0.95, 0.99];

const fmt = (n: number, digits = 0) => (Number.isNaN(n) ? '—' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));

function curve(rows: Measurement[], target: string, connections: number): Measurement[] {
  return rows.filter((r) => r.target === target && r.connections === connections);
}

/** QPS of a target at a recall, interpolated on its curve (NaN if not reached or not measured), and how it was found. */
export function atRecall(rows: Measurement[], target: string, connections: number, recall: number): AtRecall {
  const points = curve(rows, target, connections);
  return points.length ? qpsAtRecall(points, recall) : { qps: NaN, how: 'not measured' };
}

export function qpsAt(rows: Measurement[], target: string, connections: number, recall: number): number {
  return atRecall(rows, target, connections, recall).qps;
}

/** `startMs`: wall time of `vectorgate settings`, starting the process with no data (the floor under any restart). */
export function summarize(data: Dataset, s: RunSettings, result: DatasetResult, code: string, startMs: number): Summary[] {
  const { raws, kinds, rows, pgvector } = result;
  const out: Summary[] = [
    { label: 'data', value: `${data.name}: ${fmt(data.baseRows)} × ${data.dims}, ${data.metric}, ${fmt(data.queryRows)} queries; truth: ${data.truthSource}` },
    { label: 'vectorgate code', value: code },
    { label: 'vectorgate collection', value: `${s.collection.shards} shard(s), m ${s.collection.m}, ef_construction ${s.collection.efConstruction}; query vectors as ${s.vectorParam}` },
  ];
  const loaded = kinds.filter((k): k is Exclude<KindResult, { refused: string }> => !('refused' in k));
  const load = loaded.map((k) => `vectorgate ${k.kind} ${seconds(k.loadSeconds)} s`);
  const pgv = pgvector ? [`pgvector COPY ${seconds(pgvector.copySeconds)} s + CREATE INDEX ${seconds(pgvector.indexSeconds)} s = ${seconds(pgvector.copySeconds + pgvector.indexSeconds)} s`] : [];
  const raw = raws.map((r) => `raw usearch ${r.kind} build ${seconds(r.buildSeconds)} s`);
  out.push({ label: 'load + index (vectorgate: COPY binary, every write durable; raw: one batch, all cores)', value: [...load, ...pgv, ...raw].join('; ') });
  if (pgvector) {
    for (const k of loaded) out.push({ label: `load + index, vectorgate ${k.kind} ÷ pgvector COPY + CREATE INDEX`, value: (k.loadSeconds / (pgvector.copySeconds + pgvector.indexSeconds)).toFixed(2) });
  }
  for (const k of loaded) {
    out.push({ label: `crash replay, vectorgate ${k.kind} (kill -9 with every row only in the log)`, value: `first connection accepted after ${fmt(k.crashAcceptedMs)} ms, first vector_search answered after ${fmt(k.crashReadyMs)} ms, every row indexed after ${fmt(k.crashIndexedMs)} ms` });
    out.push({ label: `open with log replay in-process / snapshot / restart from the snapshot, vectorgate ${k.kind}`, value: `${k.replayOpenSeconds.toFixed(1)} s / ${k.snapshotSeconds.toFixed(1)} s / ${fmt(k.restartMs)} ms until the first query answers (of which starting the process, timed as \`vectorgate settings\`: ${fmt(startMs)} ms)` });
  }
  out.push(...ratios(rows, s, kinds, raws.map((r) => r.kind), pgvector !== null));
  return out;
}

function ratio(a: number, b: number): string {
  return Number.isNaN(b) ? '? (recall not reached) ×' : `${(a / b).toFixed(2)}×`;
}

const seconds = (x: number) => x.toFixed(x < 1 ? 2 : 1);

/** Equal-recall ratios: each vectorgate kind ÷ pgvector and ÷ the raw engine (same kind if built, else f32). */
function ratios(rows: Measurement[], s: RunSettings, kinds: KindResult[], rawKinds: string[], hasPgvector: boolean): Summary[] {
  const out: Summary[] = [];
  for (const k of kinds) {
    if ('refused' in k) continue;
    const vg = vectorgateTarget(k.kind);
    const rawKind = rawKinds.includes(k.kind) ? k.kind : 'f32';
    for (const recall of RECALL_TARGETS) {
      const parts: string[] = [];
      const rawQps = qpsAt(rows, rawTarget(rawKind as Kind), 1, recall);
      for (const c of s.connectionCounts) {
        const mine = atRecall(rows, vg, c, recall);
        const pgv = hasPgvector ? `, ${ratio(mine.qps, qpsAt(rows, 'pgvector', c, recall))} pgvector ${c} conn` : '';
        parts.push(Number.isNaN(mine.qps) ? `${c} conn: ${mine.how}` : `${c} conn ${fmt(mine.qps)} QPS (${mine.how}) = ${ratio(mine.qps, rawQps)} raw ${rawKind} (single thread)${pgv}`);
      }
      out.push({ label: `QPS at recall@10 ${recall.toFixed(2)}, ${vg}`, value: parts.join('; ') });
    }
  }
  for (const name of [...new Set(rows.map(seriesName))]) {
    const { target, connections } = rows.find((r) => seriesName(r) === name)!;
    if (target.startsWith('vectorgate')) continue;
    out.push({ label: `QPS at recall@10 0.90 / 0.95 / 0.99, ${name}`, value: RECALL_TARGETS.map((r) => fmt(qpsAt(rows, target, connections, r))).join(' / ') });
  }
  return out;
}

/**
 * One row per vectorgate kind, raw index and pgvector: memory and disk per vector next to QPS at
 * recall 0.95 at each connection count (the raw engine is single-threaded: its 1-connection column).
 */
export function kindsTable(result: DatasetResult, connectionCounts: number[]): string[][] {
  const { raws, kinds, rows, pgvector } = result;
  const q = (target: string) => connectionCounts.map((c) => fmt(qpsAt(rows, target, c, 0.95)));
  const none = connectionCounts.map(() => '—');
  const out: string[][] = [['target', 'status', 'load + index s', 'RSS B/vector after restart', 'RSS B/vector after queries', 'disk B/vector', ...connectionCounts.map((c) => `QPS @0.95, ${c} conn`)]];
  for (const k of kinds) {
    const name = vectorgateTarget(k.kind);
    if ('refused' in k) out.push([name, `refused: ${k.refused}`, '—', '—', '—', '—', ...none]);
    else out.push([name, 'ok', k.loadSeconds.toFixed(1), fmt(k.rssAfterRestartPerVector), fmt(k.rssAfterQueriesPerVector), fmt(k.diskBytesPerVector), ...q(name)]);
  }
  for (const r of raws) {
    const note = r.oversample ? `ok, rescores ${r.oversample}× k candidates from the f32 rows (+${fmt(r.rescoreBytesPerVector ?? NaN)} B/vector)` : 'ok';
    out.push([rawTarget(r.kind), note, r.buildSeconds.toFixed(1), `${fmt(r.memoryBytesPerVector)} (index estimate)`, '—', `${fmt(r.fileBytesPerVector)} (index file)`, ...q(rawTarget(r.kind)).map((v, i) => (i === 0 ? v : '—'))]);
  }
  if (pgvector) out.push(['pgvector', 'ok', (pgvector.copySeconds + pgvector.indexSeconds).toFixed(1), '—', '—', `${fmt(pgvector.bytesPerVector)} (table + index)`, ...q('pgvector')]);
  return out;
}

export function gridText(grid: string[][]): string {
  const widths = grid[0]!.map((_, i) => Math.max(...grid.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(grid[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...grid.slice(1).map(line)].join('\n');
}

export function gridMarkdown(grid: string[][]): string {
  return [`| ${grid[0]!.join(' | ')} |`, `|${grid[0]!.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`, ...grid.slice(1).map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

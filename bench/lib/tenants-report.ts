// The tenants benchmark's table, as text for the terminal and Markdown for bench/results/.
import { percentileMs, qps, median, type LoadStats } from './tenants-load.ts';

export interface TenantsResult {
  bAlone: LoadStats;
  bFlood: LoadStats;
  aSearches: LoadStats;
  aWrites: LoadStats;
  aWriteRows: number;
  /** Search QPS per round: privilege checks on (warm cache) and ProxyOptions.uncheckedAccess. */
  checkedQps: number[];
  uncheckedQps: number[];
}

const fixed = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

function markdownRows(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function p99Ratio(result: TenantsResult): number {
  return percentileMs(result.bFlood.latenciesMs, 0.99) / percentileMs(result.bAlone.latenciesMs, 0.99);
}

/** How much lower the checked median is, in % of the unchecked median (negative: it is higher). */
export function checkCostPercent(result: TenantsResult): number {
  const unchecked = median(result.uncheckedQps);
  return ((unchecked - median(result.checkedQps)) / unchecked) * 100;
}

/** The same per round (the two runs of a round are back to back), then the median over rounds. */
export function roundCostPercent(result: TenantsResult): number {
  return median(result.checkedQps.map((checked, i) => ((result.uncheckedQps[i]! - checked) / result.uncheckedQps[i]!) * 100));
}

export function tenantsMarkdown(result: TenantsResult): string {
  const b = (label: string, s: LoadStats) => [label, fixed(qps(s), 0), fixed(percentileMs(s.latenciesMs, 0.5), 2), fixed(percentileMs(s.latenciesMs, 0.99), 2), String(s.failed)];
  const a = (label: string, s: LoadStats) => [label, String(s.accepted), fixed(qps(s), 1), String(s.rejected), String(s.failed)];
  const rounds = result.checkedQps.map((checked, i) => [`round ${i + 1}`, fixed(checked, 0), fixed(result.uncheckedQps[i]!, 0),
    fixed(((result.uncheckedQps[i]! - checked) / result.uncheckedQps[i]!) * 100, 1)]);
  return [
    '### Tenant B\'s searches, alone and during tenant A\'s flood',
    '',
    markdownRows(['tenant B', 'QPS', 'p50 ms', 'p99 ms', 'errors'], [b('alone', result.bAlone), b('during A\'s flood', result.bFlood)]),
    '',
    `B's p99 during the flood ÷ alone: **${fixed(p99Ratio(result), 2)}×** (target ≤ 1.5×)`,
    '',
    '### Tenant A during its flood',
    '',
    markdownRows(['tenant A', 'accepted', 'accepted/s', 'rejected (53400)', 'other errors'],
      [a('searches', result.aSearches), a(`writes (${result.aWriteRows} rows each)`, result.aWrites)]),
    '',
    '### The privilege check on the search path (warm cache, one non-superuser role)',
    '',
    markdownRows(['', 'QPS checked', 'QPS uncheckedAccess', 'checked below unchecked %'], [...rounds,
      ['median', fixed(median(result.checkedQps), 0), fixed(median(result.uncheckedQps), 0), fixed(roundCostPercent(result), 1)]]),
    '',
    `Medians: checked is **${fixed(checkCostPercent(result), 2)}%** below unchecked (negative: above), ` +
      `median of the rounds' differences **${fixed(roundCostPercent(result), 2)}%** (target: within ±2%)`,
  ].join('\n');
}

/** Markdown tables read well enough in a terminal; drop the emphasis marks. */
export function tenantsText(result: TenantsResult): string {
  return tenantsMarkdown(result).replace(/\*\*/g, '');
}

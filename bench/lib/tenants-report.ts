// The tenants benchmark's table, as text for the terminal and Markdown for bench/results/.
import { percentileMs, qps, median, type LoadStats } from './tenants-load.ts';

/** Search QPS per round: privilege checks on (warm cache), and ProxyOptions.uncheckedAccess. */
export interface CostRounds { checked: number[]; unchecked: number[] }

export interface TenantsResult {
  bAlone: LoadStats;
  bFlood: LoadStats;
  aSearches: LoadStats;
  aWrites: LoadStats;
  aWriteRows: number;
  /** B during the same flood from tenant C, which has no quotas. */
  bUnlimitedFlood: LoadStats;
  cSearches: LoadStats;
  cWrites: LoadStats;
  /** One proxy after the other, the order swapped every round. */
  alternating: CostRounds;
  /** µs of CPU per privilege check on a warm cache (SessionAccess.require, timed in-process). */
  checkMicros: number;
}

const fixed = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

function markdownRows(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function p99Ratio(result: TenantsResult): number {
  return percentileMs(result.bFlood.latenciesMs, 0.99) / percentileMs(result.bAlone.latenciesMs, 0.99);
}

/** How much lower checked is than unchecked, in % of unchecked (negative: higher). */
const below = (checked: number, unchecked: number) => ((unchecked - checked) / unchecked) * 100;

/** Per round, then the median over rounds (the two numbers of a round were measured close together). */
export function roundCostPercent(rounds: CostRounds): number {
  return median(rounds.checked.map((checked, i) => below(checked, rounds.unchecked[i]!)));
}

function costTable(rounds: CostRounds): string {
  const rows = rounds.checked.map((checked, i) => [`round ${i + 1}`, fixed(checked, 0), fixed(rounds.unchecked[i]!, 0), fixed(below(checked, rounds.unchecked[i]!), 1)]);
  rows.push(['median', fixed(median(rounds.checked), 0), fixed(median(rounds.unchecked), 0), fixed(roundCostPercent(rounds), 1)]);
  return markdownRows(['', 'QPS checked', 'QPS uncheckedAccess', 'checked below unchecked %'], rows);
}

export function tenantsMarkdown(result: TenantsResult): string {
  const b = (label: string, s: LoadStats) => [label, fixed(qps(s), 0), fixed(percentileMs(s.latenciesMs, 0.5), 2), fixed(percentileMs(s.latenciesMs, 0.99), 2), String(s.failed)];
  const a = (label: string, s: LoadStats) => [label, String(s.accepted), fixed(qps(s), 1), String(s.rejected), String(s.failed)];
  return [
    '### Tenant B\'s searches, alone and during tenant A\'s flood',
    '',
    markdownRows(['tenant B', 'QPS', 'p50 ms', 'p99 ms', 'errors'], [b('alone', result.bAlone), b('during A\'s flood (A has quotas)', result.bFlood),
      b('during C\'s flood (C has none)', result.bUnlimitedFlood)]),
    '',
    `B's p99 during A's flood ÷ alone: **${fixed(p99Ratio(result), 2)}×** (target ≤ 1.5×); during C's flood: ` +
      `${fixed(percentileMs(result.bUnlimitedFlood.latenciesMs, 0.99) / percentileMs(result.bAlone.latenciesMs, 0.99), 2)}×`,
    '',
    '### The flooding tenants',
    '',
    markdownRows(['statements', 'accepted', 'accepted/s', 'rejected (53400)', 'other errors'],
      [a('A searches', result.aSearches), a(`A writes (${result.aWriteRows} rows each)`, result.aWrites),
        a('C searches', result.cSearches), a(`C writes (${result.aWriteRows} rows each)`, result.cWrites)]),
    '',
    '### The privilege check on the search path (warm cache, one non-superuser role)',
    '',
    'Alternating rounds (one proxy, then the other; the order swapped every round):',
    '',
    costTable(result.alternating),
    '',
    `Checked below unchecked, median over rounds: **${fixed(roundCostPercent(result.alternating), 2)}%** ` +
      `(negative: above; target: within ±2%)`,
    '',
    `The check itself on a warm cache (SessionAccess.require, timed in-process): **${fixed(result.checkMicros, 2)} µs** per search, ` +
      `${fixed((result.checkMicros / (1e6 / median(result.alternating.unchecked))) * 100, 3)}% of the time per search at the unchecked median QPS ` +
      `(${fixed(1e6 / median(result.alternating.unchecked), 0)} µs).`,
  ].join('\n');
}

/** Markdown tables read well enough in a terminal; drop the emphasis marks. */
export function tenantsText(result: TenantsResult): string {
  return tenantsMarkdown(result).replace(/\*\*/g, '');
}

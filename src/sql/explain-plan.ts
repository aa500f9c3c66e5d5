// EXPLAIN [ANALYZE] of a statement with vector searches: a plan-like text of the vector part (the
// collection, shards asked, k and candidates per shard, ef and where it came from, the filter strategy
// chosen and why, the read consistency that applied with its source and cost), with ANALYZE the time
// per shard and of the merge; for a composed statement, then PostgreSQL's own EXPLAIN of the
// rewritten statement.
// https://www.postgresql.org/docs/current/sql-explain.html
import { SqlState, VectorgateError } from '../errors.ts';
import type { Node } from './args.ts';
import { planComposed } from './composed-plan.ts';
import type { ExplainedCall, LocalPlan } from './local-plan.ts';
import type { PolicySource } from '../router/policies.ts';
import { TEXT } from './pg-types.ts';
import type { LocalFunction } from './functions/types.ts';
import { deparse } from './compose.ts';

type Lookup = (call: Node) => LocalFunction | null;

function optionOn(options: Node[], name: string): boolean {
  const option = options.map((o) => o.DefElem as Node).find((d) => d?.defname === name);
  if (option === undefined) return false;
  const arg = option.arg as Node | undefined;
  if (arg === undefined) return true;
  const text = String((arg.String as Node | undefined)?.sval ?? (arg.Boolean as Node | undefined)?.boolval ?? (arg.Integer as Node | undefined)?.ival ?? 'true');
  return !['false', 'off', '0'].includes(text.toLowerCase());
}

/** A plan for EXPLAIN of a statement using our functions in FROM position; null when it uses none. */
export function planExplain(explain: Node, lookup: Lookup, callCount: number, pureLocal: boolean): LocalPlan | null {
  const inner = explain.query as Node;
  const options = (explain.options as Node[] | undefined) ?? [];
  const analyze = optionOn(options, 'analyze');
  const composed = planComposed(structuredClone(inner), lookup, callCount);
  if (composed === null) return null;
  const upstreamOptions = deparse({ ExplainStmt: { query: { SelectStmt: { targetList: [], limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } }, options } }).replace(/\s*SELECT\s*$/i, '');
  return {
    columns: [{ name: 'QUERY PLAN', type: TEXT }],
    paramTypes: composed.paramTypes,
    async execute(ctx, params) {
      const explained: ExplainedCall[] = [];
      const rewritten = await composed.compose!.rewrite({ ...ctx, explain: explained }, params);
      const lines = explained.flatMap((call) => describeCall(call, analyze));
      if (!pureLocal) {
        if (rewritten.upstreamParams.length > 0) {
          throw new VectorgateError(SqlState.FeatureNotSupported, 'EXPLAIN of a composed statement with parameters is not supported', {
            hint: 'EXPLAIN it with the values written as constants.',
          });
        }
        lines.push('PostgreSQL plan of the rewritten statement:');
        const rows = await ctx.queryUpstream(`${upstreamOptions} ${rewritten.sql}`);
        for (const row of rows) lines.push(`  ${row[0] ?? ''}`);
      }
      return { rows: lines.map((line) => [line]), commandTag: 'EXPLAIN' };
    },
  };
}

function ms(value: number): string {
  return value.toFixed(3);
}

const FROM: Readonly<Record<PolicySource, string>> = {
  call: 'call argument', transaction: 'SET LOCAL', session: 'SET', collection: 'collection policy', default: 'server default',
};

/**
 * What the read consistency cost here. Embedded, each shard has one replica, and a write is
 * acknowledged only after that replica applied it, so any level is met by reading it at once. In a
 * cluster each shard names the replica that answered and what it had applied.
 */
const CONSISTENCY_COST = 'met without waiting: each shard has one replica, which applied every acknowledged write before the ack';
const CLUSTER_CONSISTENCY = {
  eventual: 'any live replica of each shard',
  session: "a replica of each shard that applied this session's own writes",
  bounded: 'a replica of each shard at most max_staleness_ms behind its log',
  linearizable: "a replica of each shard that applied everything the shard's log committed before the read",
} as Readonly<Record<string, string>>;

/** The rescoring that applied: the oversample each shard used (auto resolves per quantization in the shard). */
function describeRescoring({ rescore, oversample }: ExplainedCall['policies'], e: ExplainedCall['explanation']): string {
  if (rescore.value !== 'on') return `Rescore: off (from ${FROM[rescore.source]}); each shard keeps the index's own k candidates, no oversampling`;
  const used = e.shards[0]?.trace.oversample;
  const value = oversample.value === 'auto' ? `auto = ${used ?? '?'} for ${e.quantization}` : oversample.value;
  return `Rescore: on (from ${FROM[rescore.source]}), oversample ${value} (from ${FROM[oversample.source]}); ` +
    `each shard asks its index for ceil(${e.fetched} × oversample) candidates and keeps the ${e.fetched} nearest by exact distance`;
}

function describeCall({ collection, filter, explanation: e, policies }: ExplainedCall, analyze: boolean): string[] {
  const ef = policies.ef_search;
  const consistency = policies.read_consistency;
  const lines = [
    `Vector Search on ${collection} (vectorgate)  k=${e.k} ef=${e.ef} (from ${FROM[ef.source]}) metric=${e.metric}` +
      (analyze ? `  (actual time=${ms(e.fanOutMs + e.mergeMs + (e.rerank?.ms ?? 0))} ms rows=${e.rows.length})` : ''),
    `  Shards: ${e.shards.length} asked in parallel, top ${e.fetched} each${e.fetched > e.k ? ' (the rerank candidates)' : ''}`,
    `  Read consistency: ${consistency.value} (from ${FROM[consistency.source]}); ${e.shards.some((shard) => shard.replica !== undefined) ? CLUSTER_CONSISTENCY[consistency.value] : CONSISTENCY_COST}`,
  ];
  lines.push(`  ${describeRescoring(policies, e)}`);
  if (filter !== null) lines.push(`  Filter: ${filter}`);
  e.shards.forEach((shard, i) => {
    const t = shard.trace;
    const candidates = t.candidates.length > 0 ? `candidates ${t.candidates.join(' → ')}` : 'no graph search';
    const replica = shard.replica === undefined ? '' : ` on replica ${shard.replica} (applied seq ${shard.lastApplied})`;
    lines.push(`  -> Shard ${i}${replica}: ${t.strategy} (${t.rows} rows, ${candidates}, ${t.rescored} rescored, ${shard.hits.length} returned)` +
      (analyze ? `  (actual time=${ms(shard.ms)} ms)` : ''));
    lines.push(`       why: ${t.reason}${t.selectivity !== undefined ? `; estimated selectivity ${t.selectivity.toPrecision(2)}` : ''}`);
  });
  lines.push(`  -> Merge: top ${e.fetched} of ${e.shards.reduce((n, s) => n + s.hits.length, 0)} rows` + (analyze ? `  (actual time=${ms(e.mergeMs)} ms)` : ''));
  lines.push(...describeRerank(policies, e, analyze));
  lines.push(`  Search cache: not used by EXPLAIN (search_cache ${policies.search_cache.value}, from ${FROM[policies.search_cache.source]})`);
  return lines;
}

/** The rerank step: skipped and why, or the reranker, its candidates, its time, and whether it fell back to vector order. */
function describeRerank({ rerank }: ExplainedCall['policies'], e: ExplainedCall['explanation'], analyze: boolean): string[] {
  if (rerank.value !== 'on') return [`  Rerank: off (from ${FROM[rerank.source]}); shards asked for k`];
  const plan = e.rerankPlan;
  if (plan === null) return [`  Rerank: on (from ${FROM[rerank.source]}), skipped: no query text; shards asked for k`];
  const target = plan.kind === 'bm25' ? 'bm25 (built in)' : `${plan.kind} at ${plan.url}`;
  const head = `  -> Rerank: ${target} by payload field "${plan.field}", top ${plan.topN} candidates, timeout ${plan.timeoutMs} ms`;
  const outcome = e.rerank;
  if (outcome === null) return [`${head}; no candidates`];
  const time = analyze ? `  (actual time=${ms(outcome.ms)} ms)` : '';
  const result = outcome.fellBack === null
    ? `       reranked ${outcome.candidates} candidates; returned the top ${e.rows.length} by reranker score`
    : `       fell back: ${outcome.fellBack.message}; returned the top ${e.rows.length} in vector order`;
  return [head + time, result];
}

// Reads: nearest-neighbour search and fetching one row by id. Both are set-returning, so they are used
// as `SELECT * FROM vector_search(...)`; vectors come back as real[] and payloads as jsonb.
import { FLOAT4, FLOAT4_ARRAY, JSONB_TEXT, TEXT } from '../pg-types.ts';
import type { ExecContext } from '../local-plan.ts';
import { SqlState, VectorgateError } from '../../errors.ts';
import { checkPolicy, oversampleOf, resolvePolicy, type PolicyLayers, type ReadConsistency, type ResolvedPolicy } from '../../router/policies.ts';
import { topNFor, type RerankPlan } from '../../router/rerank/rerank-step.ts';
import type { RerankerKind } from '../../router/rerank/reranker.ts';
import type { ReadParams, SearchParams } from '../../router/collections.ts';
import type { Args } from '../args.ts';
import { collectionsOf, type LocalFunction } from './types.ts';

/** k when the call names none. */
export const DEFAULT_K = 10;

export const search: LocalFunction = {
  name: 'vector_search',
  set: true,
  columns: [{ name: 'id', type: TEXT }, { name: 'distance', type: FLOAT4 }, { name: 'payload', type: JSONB_TEXT }],
  overloads: [{
    params: [
      { name: 'collection', kind: 'text' }, { name: 'vector', kind: 'vector' },
      { name: 'k', kind: 'int', optional: true }, { name: 'filter', kind: 'jsonb', optional: true },
      { name: 'ef', kind: 'int', optional: true }, { name: 'query_text', kind: 'text', optional: true },
      { name: 'read_consistency', kind: 'text', optional: true },
    ],
    async run(ctx, a) {
      const filter = a.optJson('filter');
      const collection = a.text('collection');
      const k = a.optInt('k') ?? DEFAULT_K;
      await ctx.access.require(collection, ['SELECT']);
      const collections = collectionsOf(ctx);
      const layers: PolicyLayers = { ...ctx, collection: collections.policies(collection), config: collections.config };
      const maxK = Number(resolvePolicy('max_k', layers).value);
      if (k > maxK) throw new VectorgateError(SqlState.ProgramLimitExceeded, `k ${k} exceeds max_k ${maxK} of collection "${collection}"`);
      ctx.limitTime(Number(resolvePolicy('statement_timeout', layers).value));
      return runSearch(ctx, a, collection, k, filter, layers);
    },
  }],
};

/**
 * The rerank a search asks for: null when rerank is off or there is no query text (nor any word in
 * it). reranker_url set by the session (SET, SET LOCAL) rather than the collection's owner through
 * vector_set_policy is honoured only for the collection's owner or a superuser (42501 otherwise), so
 * a reader cannot point the proxy at an address of its choosing, even an allowed one.
 */
async function rerankPlan(ctx: ExecContext, layers: PolicyLayers, collection: string, queryText: string | undefined, k: number): Promise<RerankPlan | null> {
  const checked = (name: string) => checkPolicy(name, resolvePolicy(name, layers).value, layers.config);
  if (checked('rerank') !== 'on' || queryText === undefined || queryText.trim() === '') return null;
  const topN = topNFor(queryText, Number(checked('rerank_top_n')), k, layers.config);
  if (topN === 0) return null;
  const kind = checked('reranker') as RerankerKind;
  const url = resolvePolicy('reranker_url', layers);
  if (kind !== 'bm25' && url.value === '') {
    throw new VectorgateError(SqlState.InvalidParameterValue, `reranker ${kind} needs vectorgate.reranker_url`, {
      hint: "The collection's owner sets it with vector_set_policy(collection, 'reranker_url', 'http://host:port/rerank'); or use reranker bm25.",
    });
  }
  if (kind !== 'bm25' && (url.source === 'session' || url.source === 'transaction')) await requireOwnerForUrl(ctx, collection);
  return {
    kind, url: kind === 'bm25' ? '' : checkPolicy('reranker_url', url.value, layers.config), topN,
    timeoutMs: Number(checked('rerank_timeout_ms')), field: checked('rerank_field'), queryText,
  };
}

async function requireOwnerForUrl(ctx: ExecContext, collection: string): Promise<void> {
  try {
    await ctx.access.require(collection, ['OWNER']);
  } catch (err) {
    throw new VectorgateError(SqlState.InsufficientPrivilege, `only the owner of collection "${collection}" or a superuser may set vectorgate.reranker_url`, {
      hint: "The owner sets it for everyone with vector_set_policy(collection, 'reranker_url', …).", cause: err,
    });
  }
}

async function runSearch(ctx: ExecContext, a: Args, collection: string, k: number, filter: string | undefined, layers: PolicyLayers): Promise<unknown[][]> {
  const ef: ResolvedPolicy = resolvePolicy('ef_search', layers, a.optInt('ef'));
  const consistency = readConsistency(layers, a);
  const rescore = resolvePolicy('rescore', layers);
  const oversample = resolvePolicy('oversample', layers);
  const rerank = resolvePolicy('rerank', layers);
  const searchCache = resolvePolicy('search_cache', layers);
  const params: SearchParams = {
    ef: Number(ef.value), filter: filter === undefined ? undefined : JSON.parse(filter), ...readParams(consistency, layers),
    // Checked again: set_config() upstream can put any text in a vectorgate.* setting.
    rescore: checkPolicy('rescore', rescore.value, layers.config) === 'on', oversample: oversampleOf(checkPolicy('oversample', oversample.value, layers.config)),
    rerank: await rerankPlan(ctx, layers, collection, a.optText('query_text'), k),
    searchCache: checkPolicy('search_cache', searchCache.value, layers.config) as SearchParams['searchCache'],
    signal: ctx.signal, remainingMs: () => ctx.remainingMs(),
  };
  // Each search counts, also inside EXPLAIN and composed statements (they call this same function).
  await ctx.tenant.takeSearches(1, ctx.signal);
  if (ctx.explain !== undefined) {
    const explanation = await collectionsOf(ctx).explainSearch(collection, a.vector('vector'), k, params);
    ctx.explain.push({ collection, filter: filter ?? null, explanation, policies: { ef_search: ef, read_consistency: consistency, rescore, oversample, rerank, search_cache: searchCache } });
    return explanation.rows.map((h) => [h.id, h.distance, h.payload]);
  }
  const answer = await collectionsOf(ctx).searchWithAccount(collection, a.vector('vector'), k, params);
  const fellBack = answer.rerank?.fellBack;
  if (fellBack != null && checkPolicy('rerank_notice', resolvePolicy('rerank_notice', layers).value, layers.config) === 'on') {
    ctx.notice(`vector_search on "${collection}": the rerank fell back to vector order (${fellBack.message})`);
  }
  return answer.rows.map((h) => [h.id, h.distance, h.payload]);
}

/** The read's consistency level: call argument > SET LOCAL > SET > collection policy > default (22023 for an unknown level). */
function readConsistency(layers: PolicyLayers, a: Args): ResolvedPolicy {
  const call = a.optText('read_consistency');
  const resolved = resolvePolicy('read_consistency', layers, call === undefined ? undefined : checkPolicy('read_consistency', call, layers.config));
  return resolved;
}

/** The level with what it needs: bounded's staleness, and how long a replica may take to catch up (the statement's time limit). */
function readParams(consistency: ResolvedPolicy, layers: PolicyLayers): ReadParams {
  const timeoutMs = Number(resolvePolicy('statement_timeout', layers).value);
  return {
    consistency: consistency.value as ReadConsistency,
    maxStalenessMs: Number(resolvePolicy('max_staleness_ms', layers).value),
    waitMs: timeoutMs > 0 ? timeoutMs : layers.config.readConsistencyMaxWaitMs,
  };
}

export const get: LocalFunction = {
  name: 'vector_get',
  set: true,
  columns: [{ name: 'id', type: TEXT }, { name: 'vector', type: FLOAT4_ARRAY }, { name: 'payload', type: JSONB_TEXT }],
  overloads: [{
    params: [{ name: 'collection', kind: 'text' }, { name: 'id', kind: 'text' }, { name: 'read_consistency', kind: 'text', optional: true }],
    async run(ctx, a) {
      const collection = a.text('collection');
      await ctx.access.require(collection, ['SELECT']);
      const collections = collectionsOf(ctx);
      const layers: PolicyLayers = { ...ctx, collection: collections.policies(collection), config: collections.config };
      ctx.limitTime(Number(resolvePolicy('statement_timeout', layers).value));
      const row = await collections.get(collection, a.text('id'), readParams(readConsistency(layers, a), layers));
      return row === null ? [] : [[row.id, row.vector, row.payload]];
    },
  }],
};

// Reads: nearest-neighbour search and fetching one row by id. Both are set-returning, so they are used
// as `SELECT * FROM vector_search(...)`; vectors come back as real[] and payloads as jsonb.
import { FLOAT4, FLOAT4_ARRAY, JSONB_TEXT, TEXT } from '../pg-types.ts';
import type { ExecContext } from '../local-plan.ts';
import { sessionEfSearch, settingDefault } from '../settings.ts';
import { SqlState, VectorgateError } from '../../errors.ts';
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
    ],
    async run(ctx, a) {
      const filter = a.optJson('filter');
      // query_text is accepted now so calls written for reranking keep working; it does not change results yet.
      a.optText('query_text');
      const collection = a.text('collection');
      const k = a.optInt('k') ?? DEFAULT_K;
      const maxK = Number(effectivePolicy(ctx, collection, 'max_k'));
      if (k > maxK) throw new VectorgateError(SqlState.ProgramLimitExceeded, `k ${k} exceeds max_k ${maxK} of collection "${collection}"`);
      ctx.limitTime(Number(effectivePolicy(ctx, collection, 'statement_timeout')));
      return runSearch(ctx, a, collection, k, filter);
    },
  }],
};

async function runSearch(ctx: ExecContext, a: Args, collection: string, k: number, filter: string | undefined): Promise<unknown[][]> {
  const params = { ef: a.optInt('ef') ?? efFromSession(ctx), filter: filter === undefined ? undefined : JSON.parse(filter) };
  if (ctx.explain !== undefined) {
    const explanation = await collectionsOf(ctx).explainSearch(collection, a.vector('vector'), k, params);
    ctx.explain.push({ collection, filter: filter ?? null, explanation });
    return explanation.rows.map((h) => [h.id, h.distance, h.payload]);
  }
  const hits = await collectionsOf(ctx).search(collection, a.vector('vector'), k, params);
  return hits.map((h) => [h.id, h.distance, h.payload]);
}

/** The session's SET vectorgate.ef_search, which comes before the collection's policy. */
function efFromSession(ctx: ExecContext): number | undefined {
  return sessionEfSearch(ctx.settings);
}

/** Session (SET / SET LOCAL) > collection policy > server default. */
function effectivePolicy(ctx: ExecContext, collection: string, name: string): string {
  const collections = collectionsOf(ctx);
  return ctx.settings.get(name) ?? collections.policies(collection)[name] ?? settingDefault(name, collections.config);
}

export const get: LocalFunction = {
  name: 'vector_get',
  set: true,
  columns: [{ name: 'id', type: TEXT }, { name: 'vector', type: FLOAT4_ARRAY }, { name: 'payload', type: JSONB_TEXT }],
  overloads: [{
    params: [{ name: 'collection', kind: 'text' }, { name: 'id', kind: 'text' }],
    async run(ctx, a) {
      const row = await collectionsOf(ctx).get(a.text('collection'), a.text('id'));
      return row === null ? [] : [[row.id, row.vector, row.payload]];
    },
  }],
};

// Per-collection policies: set one (persisted in the catalog), or list each known policy with the
// value a search in this session would use, where that value comes from and whether it has its effect yet.
import { POLICIES, effectOf, policyDef, resolvePolicy } from '../../router/policies.ts';
import { TEXT } from '../pg-types.ts';
import { collectionsOf, type LocalFunction } from './types.ts';

/** Returns the stored (canonical) value, as set_config() returns the new value. */
export const setPolicy: LocalFunction = {
  name: 'vector_set_policy',
  set: false,
  columns: [{ name: 'vector_set_policy', type: TEXT }],
  overloads: [{
    params: [{ name: 'collection', kind: 'text' }, { name: 'name', kind: 'text' }, { name: 'value', kind: 'text' }],
    async run(ctx, a) {
      const collections = collectionsOf(ctx);
      const collection = a.text('collection');
      const name = a.text('name');
      await ctx.access.require(collection, ['OWNER']);
      await collections.setPolicy(collection, name, a.text('value'));
      const stored = collections.policies(collection)[name] ?? null;
      const notice = stored === null ? null : policyDef(name)?.noticeFor(stored) ?? null;
      if (notice !== null) ctx.notice(notice);
      return [[stored]];
    },
  }],
};

/** Source is `transaction` (SET LOCAL), `session` (SET), `collection` (vector_set_policy) or `default`. */
export const listPolicies: LocalFunction = {
  name: 'vector_policies',
  set: true,
  columns: [{ name: 'name', type: TEXT }, { name: 'value', type: TEXT }, { name: 'source', type: TEXT }, { name: 'effective', type: TEXT }],
  overloads: [{
    params: [{ name: 'collection', kind: 'text' }],
    async run(ctx, a) {
      await ctx.access.require(a.text('collection'), ['SELECT']);
      const collections = collectionsOf(ctx);
      const layers = { ...ctx, collection: collections.policies(a.text('collection')), config: collections.config };
      return POLICIES.map((def) => {
        const { value, source } = resolvePolicy(def.name, layers);
        return [def.name, value, source, effectOf(def)];
      });
    },
  }],
};

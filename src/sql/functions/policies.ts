// Per-collection policies: set one (persisted in the catalog), or list each known policy with the
// value a search in this session would use and where that value comes from.
import { POLICY_NAMES } from '../../router/policies.ts';
import { TEXT } from '../pg-types.ts';
import { sessionSetting, settingDefault } from '../settings.ts';
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
      await collections.setPolicy(collection, name, a.text('value'));
      return [[collections.policies(collection)[name] ?? null]];
    },
  }],
};

/** Source is `session` (SET vectorgate.x), `collection` (vector_set_policy) or `default`. */
export const listPolicies: LocalFunction = {
  name: 'vector_policies',
  set: true,
  columns: [{ name: 'name', type: TEXT }, { name: 'value', type: TEXT }, { name: 'source', type: TEXT }],
  overloads: [{
    params: [{ name: 'collection', kind: 'text' }],
    async run(ctx, a) {
      const collections = collectionsOf(ctx);
      const stored = collections.policies(a.text('collection'));
      return POLICY_NAMES.map((name) => {
        const session = sessionSetting(ctx.settings, name);
        if (session !== undefined) return [name, session, 'session'];
        if (stored[name] !== undefined) return [name, stored[name], 'collection'];
        return [name, settingDefault(name, collections.config), 'default'];
      });
    },
  }],
};

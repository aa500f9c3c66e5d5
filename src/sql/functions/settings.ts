// vector_settings(): every vectorgate.* setting with the value this session would use, where it comes
// from (transaction = SET LOCAL, session = SET, default) and whether it has its effect yet — SHOW ALL
// for vectorgate, as a set-returning function.
import { POLICIES, effectOf, resolvePolicy } from '../../router/policies.ts';
import { TEXT } from '../pg-types.ts';
import { configOf } from '../settings.ts';
import type { LocalFunction } from './types.ts';

export const listSettings: LocalFunction = {
  name: 'vector_settings',
  set: true,
  columns: [
    { name: 'name', type: TEXT }, { name: 'setting', type: TEXT }, { name: 'source', type: TEXT },
    { name: 'description', type: TEXT }, { name: 'effective', type: TEXT },
  ],
  overloads: [{
    params: [],
    async run(ctx) {
      const layers = { ...ctx, config: configOf(ctx) };
      return POLICIES.map((def) => {
        const { value, source } = resolvePolicy(def.name, layers);
        return [`vectorgate.${def.name}`, value, source, def.description, effectOf(def)];
      });
    },
  }],
};

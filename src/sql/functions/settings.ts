// vector_settings(): every vectorgate.* setting with the value this session would use and where it
// comes from — SHOW ALL for vectorgate, as a set-returning function.
import { DEFAULTS } from '../../config.ts';
import { TEXT } from '../pg-types.ts';
import { SETTING_NAMES, settingDefault } from '../settings.ts';
import type { LocalFunction } from './types.ts';

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  ef_search: 'HNSW candidate list size of a search (recall against speed)',
  read_consistency: 'eventual | session | bounded | linearizable',
  rerank: 'rerank search results by query_text (on | off)',
  statement_timeout: 'milliseconds a vector statement may run before 57014; 0 = no limit',
  max_k: 'largest k a search may ask for (54000 above it)',
};

export const listSettings: LocalFunction = {
  name: 'vector_settings',
  set: true,
  columns: [{ name: 'name', type: TEXT }, { name: 'setting', type: TEXT }, { name: 'source', type: TEXT }, { name: 'description', type: TEXT }],
  overloads: [{
    params: [],
    async run(ctx) {
      const config = ctx.collections?.config ?? DEFAULTS;
      return SETTING_NAMES.map((name) => {
        const session = ctx.settings.get(name);
        return [`vectorgate.${name}`, session ?? settingDefault(name, config), session === undefined ? 'default' : 'session', DESCRIPTIONS[name] ?? ''];
      });
    },
  }],
};

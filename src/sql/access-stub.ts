// Placeholder of the base branch for issue 9 (replaced by src/sql/tenant.ts before anything merges
// to main): no limit.
import type { Tenant } from './access-types.ts';

export const UNLIMITED_TENANT: Tenant = {
  enterStatement: async () => () => undefined,
  takeSearches: async () => undefined,
  admitWrite: async () => undefined,
  admitDelete: async () => undefined,
  admitCreate: async () => undefined,
  limit: () => 0,
};

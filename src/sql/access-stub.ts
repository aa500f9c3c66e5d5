// Placeholders of the base branch for issue 9 (replaced by src/sql/access.ts and src/sql/tenant.ts
// before anything merges to main): everything allowed, no limit.
import type { Access, Principal, Tenant } from './access-types.ts';

export function allowAllAccess(database: () => string): Access {
  const principal: Principal = { sessionUser: '', currentUser: '', database: '', superuser: true };
  return {
    get database() { return database(); },
    principal: async () => ({ ...principal, database: database() }),
    require: async () => undefined,
    visible: async (names) => new Set(names),
    requireCreate: async () => undefined,
  };
}

export const UNLIMITED_TENANT: Tenant = {
  enterStatement: async () => () => undefined,
  takeSearches: async () => undefined,
  admitWrite: async () => undefined,
  admitDelete: async () => undefined,
  admitCreate: async () => undefined,
  limit: () => 0,
};

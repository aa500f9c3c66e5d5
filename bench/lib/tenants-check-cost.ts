// The privilege check's own cost on a warm cache, timed in this process: SessionAccess.require() as a
// search calls it, with the cache filled by one answer in PostgreSQL's shape (the answer a real
// session got, so the cached path is the one searches take). Whole-proxy QPS rounds on a shared
// 2-core machine differ by ±15 % between seconds, more than the 2 % to be shown; the check's CPU time
// beside a search's is a measurement that noise cannot hide.
import { SessionAccess } from '../../src/sql/access.ts';

const ROW = ['tenant_b', 'tenant_b', 'app', 'f', 'tenants', 't', 't', 'f', 'f', 'f', 'f'];

export async function checkMicros(calls = 200_000): Promise<number> {
  const access = new SessionAccess({
    database: 'app',
    query: async () => [ROW],
    epoch: () => 0,
    catalogOwner: () => 'alice',
    ddlRefusal: () => null,
    config: { privilegeCacheMs: 60_000, maxCollections: 1000 },
    checked: true,
  });
  await access.require('tenants', ['SELECT']);
  for (let round = 0; round < 2; round++) {
    const started = performance.now();
    for (let i = 0; i < calls; i++) await access.require('tenants', ['SELECT']);
    if (round === 1) return ((performance.now() - started) * 1000) / calls;
  }
  return NaN;
}

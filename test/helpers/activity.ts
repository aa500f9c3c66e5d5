// Waits on pg_stat_activity, seen from an administrator's direct connection, for a backend to reach
// a state. Tests use it instead of sleeping: a cancel or terminate sent before the statement runs
// would hit nothing, and no fixed delay is ever sure to be long enough.
import type pg from 'pg';

export interface BackendActivity {
  pid: number;
  state: string | null;
  query: string;
  application_name: string;
  wait_event_type: string | null;
}

export async function waitForBackend(
  admin: pg.Client,
  matches: (row: BackendActivity) => boolean,
  pause = 20,
): Promise<BackendActivity> {
  for (;;) {
    const { rows } = await admin.query<BackendActivity>(
      'SELECT pid, state, query, application_name, wait_event_type FROM pg_stat_activity WHERE pid <> pg_backend_pid()',
    );
    const found = rows.find(matches);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

/** The backend is executing a statement containing `fragment` (e.g. a pg_sleep). */
export function waitForActiveQuery(admin: pg.Client, pid: number, fragment: string): Promise<BackendActivity> {
  return waitForBackend(admin, (row) => row.pid === pid && row.state === 'active' && row.query.includes(fragment));
}

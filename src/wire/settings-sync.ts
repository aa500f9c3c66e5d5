// The session's vectorgate.* settings live in PostgreSQL (see src/sql/settings.ts); before a local
// statement runs, their effective values are read back — only when something may have changed them:
// at the first local statement (ALTER ROLE/DATABASE ... SET, startup options) and after each SET/RESET
// of ours. Inside a failed transaction nothing is read: the statement gets 25P02 anyway.
import { internalQuery } from './internal-query.ts';
import { SETTING_NAMES } from '../sql/settings.ts';
import type { Session } from './session.ts';

const READ_SETTINGS = 'SELECT ' + SETTING_NAMES.map((name) => `current_setting('vectorgate.${name}', true)`).join(', ');

export async function refreshSettings(session: Session): Promise<void> {
  if (!session.settingsStale || session.txStatus === 'E' || session.upstream === null) return;
  const [row] = await internalQuery(session, READ_SETTINGS, { keep: true });
  session.settings.clear();
  SETTING_NAMES.forEach((name, i) => {
    const value = row?.[i];
    // A placeholder setting that was RESET reads back as '' rather than NULL.
    if (value !== null && value !== undefined && value !== '') session.settings.set(name, value);
  });
  session.settingsStale = false;
  if (session.settings.size > 0) session.settingsInUse = true;
}

// The session's vectorgate.* settings live in PostgreSQL (see src/sql/settings.ts); before a local
// statement runs, their effective values are read back — only when something may have changed them:
// at the first local statement (ALTER ROLE/DATABASE ... SET, startup options) and after each SET/RESET
// of ours. Inside a failed transaction nothing is read: the statement gets 25P02 anyway.
//
// PostgreSQL reports one effective value per setting, not whether SET LOCAL made it; the resolution
// order (SET LOCAL before SET) needs that, so the proxy notes which names its SET LOCALs touched in the
// open transaction block. A later SET or RESET of the name, or the block's end, clears the note.
// (ROLLBACK TO SAVEPOINT can undo a SET LOCAL and leave the note: the value is then right, its source
// is reported as SET LOCAL.)
import { internalQuery } from './internal-query.ts';
import { SETTING_NAMES } from '../sql/settings.ts';
import type { Session } from './session.ts';

const READ_SETTINGS = 'SELECT ' + SETTING_NAMES.map((name) => `current_setting('vectorgate.${name}', true)`).join(', ');

const localNames = new WeakMap<Session, Set<string>>();

/** The names whose value came from SET LOCAL in the open transaction block. */
export function localSettingsOf(session: Session): Set<string> {
  let names = localNames.get(session);
  if (names === undefined) localNames.set(session, (names = new Set()));
  return names;
}

/** A SET / SET LOCAL / RESET of ours is going upstream. */
export function noteSettingChange(session: Session, change: { name: string; local: boolean }): void {
  session.settingsStale = true;
  session.settingsInUse = true;
  if (change.local) localSettingsOf(session).add(change.name);
  else localSettingsOf(session).delete(change.name);
}

export async function refreshSettings(session: Session): Promise<void> {
  // Outside a transaction block no SET LOCAL is in effect (it ended with its block, or warned and did nothing).
  if (session.txStatus === 'I') localNames.get(session)?.clear();
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

// Tells a session's privilege answers (src/sql/access.ts) when they may be wrong: statements that may
// change the role or privileges pass through here on their way upstream. A byte-level word scan of the
// statement text, conservative (a word inside a string literal counts too):
// - the role may change: SET ROLE / SET SESSION AUTHORIZATION / set_config('role', …), RESET,
//   DISCARD, ROLLBACK / ABORT (undoing a SET [LOCAL] ROLE) — this session's answers go;
// - privileges may change for everyone: GRANT, REVOKE, ALTER (… OWNER TO, ROLE … NOSUPERUSER),
//   DROP, REASSIGN — every session of this proxy re-asks (ProxyAccessEpoch).
// Each is noted when sent and again at the next ReadyForQuery outside a transaction block, when it
// has committed. The is_superuser and session_authorization ParameterStatus mark a role change too. A
// role changed inside a function (which no text shows) is caught within privilegeCacheMs.
import { BodyReader, startupParameters } from './frontend-codec.ts';
import type { TransactionStatus } from './codes.ts';
import { SessionAccess } from '../sql/access.ts';
import { internalQuery } from './internal-query.ts';
import type { Session } from './session.ts';

export const enum AccessChange { None = 0, Role = 1, Privileges = 2 }

/** Bumped by any session of one proxy when privileges may have changed. */
export interface ProxyAccessEpoch { value: number }

/** What the watch needs of a session. */
export interface WatchedSession {
  accessEpoch: number;
  pendingAccessChange: number;
  readonly deps: { aclEpoch: ProxyAccessEpoch };
}

const ROLE_WORDS = new Set(['role', 'authorization', 'reset', 'discard', 'rollback', 'abort', 'set_config']);
const PRIVILEGE_WORDS = new Set(['grant', 'revoke', 'alter', 'drop', 'reassign', 'owner']);
const LONGEST_WORD = 13;

function isWordByte(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b === 0x5f || b === 0x24 || b >= 0x80;
}

/** The changes a statement text (bytes [start, end)) may make; ASCII case-insensitive whole words. */
export function accessChangeOf(buf: Uint8Array, start: number, end: number): number {
  let change = AccessChange.None;
  let i = start;
  while (i < end) {
    if (!isWordByte(buf[i]!)) { i++; continue; }
    let j = i;
    while (j < end && isWordByte(buf[j]!)) j++;
    if (j - i <= LONGEST_WORD && j - i >= 4) {
      const word = Buffer.from(buf.buffer, buf.byteOffset + i, j - i).toString('latin1').toLowerCase();
      if (ROLE_WORDS.has(word)) change |= AccessChange.Role;
      else if (PRIVILEGE_WORDS.has(word)) change |= AccessChange.Privileges;
    }
    i = j;
  }
  return change;
}

function bump(session: WatchedSession, change: number): void {
  session.accessEpoch++;
  if (change & AccessChange.Privileges) session.deps.aclEpoch.value++;
}

/** A statement text is going upstream. */
export function noteStatementText(session: WatchedSession, buf: Uint8Array, start: number, end: number): void {
  const change = accessChangeOf(buf, start, end);
  if (change === AccessChange.None) return;
  bump(session, change);
  session.pendingAccessChange |= change;
}

/** ReadyForQuery: what was noted has now run (and, outside a transaction block, committed). */
export function noteReadyForQuery(session: WatchedSession, status: TransactionStatus): void {
  if (session.pendingAccessChange === AccessChange.None) return;
  bump(session, session.pendingAccessChange);
  if (status === 'I') session.pendingAccessChange = AccessChange.None;
}

/** https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-ASYNC (is_superuser, session_authorization) */
export function noteParameterStatus(session: WatchedSession, raw: Buffer): void {
  const name = new BodyReader(raw, 5).cstring();
  if (name === 'is_superuser' || name === 'session_authorization') session.accessEpoch++;
}

/** The session's SessionAccess: its reads run in the session, its epoch is the session's plus the proxy's. */
export function openSessionAccess(session: Session): SessionAccess {
  return new SessionAccess({
    get database() { return session.database; },
    query: (sql) => internalQuery(session, sql),
    epoch: () => session.accessEpoch + session.deps.aclEpoch.value,
    catalogOwner: (name) => session.deps.collections?.in(session.database).spec(name)?.owner,
    ddlRefusal: () => (session.txStatus !== 'I' ? 'transaction block' : session.midPipeline ? 'pipeline' : null),
    config: session.deps.config,
    checked: !session.deps.uncheckedAccess,
  });
}

/**
 * The StartupMessage's database, its user's name when it names none (PostgreSQL's rule); PostgreSQL
 * accepted it once authentication ends. A malformed packet PostgreSQL refuses anyway.
 */
export function startupDatabase(startup: Buffer): string {
  try {
    const params = startupParameters(startup);
    return params.get('database') || params.get('user') || '';
  } catch {
    return '';
  }
}

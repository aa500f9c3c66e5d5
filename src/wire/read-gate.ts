// Reading from a socket stops while any reason to stop holds, and resumes only when none does: the
// client is read neither while its own responses pile up unread nor while the upstream is full, and
// one of those ending must not resume reading the other still needs stopped.
import type { Socket } from 'node:net';

/**
 * Why reading stops. `backlog`: the client is not reading its responses; `peer`: the socket we forward
 * to is full; `inbox`: messages wait behind a local statement; `copy`: a COPY's sink is behind;
 * `pending`: too many upstream answers are awaited; `shutdown`: the proxy is stopping and takes no new
 * statements.
 */
export type PauseReason = 'backlog' | 'peer' | 'pending' | 'inbox' | 'copy' | 'shutdown';

export class ReadGate {
  private readonly reasons = new Set<PauseReason>();

  /** `socket` is read at each call: a session's client socket is replaced when TLS starts. */
  constructor(private readonly socket: () => Socket) {}

  hold(reason: PauseReason): void {
    this.reasons.add(reason);
    this.socket().pause();
  }

  release(reason: PauseReason): void {
    if (!this.reasons.delete(reason) || this.reasons.size > 0) return;
    this.socket().resume();
  }

  has(reason: PauseReason): boolean {
    return this.reasons.has(reason);
  }
}

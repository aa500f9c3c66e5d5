// CancelRequest support: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-CANCELING-REQUESTS
// The client cancels with the upstream's own BackendKeyData (passed through unchanged), so the key
// names one session. The proxy stops that session's local work and sends the same request upstream.
import { connect } from 'node:net';
import { StartupCode } from './codes.ts';

export interface Cancellable {
  cancelLocal(): void;
}

export class CancelRegistry {
  private readonly byKey = new Map<string, { session: Cancellable; processId: number; secretKey: Buffer }>();
  private readonly keyOf = new Map<Cancellable, string>();

  constructor(private readonly upstream: { host: string; port: number; timeoutMs: number }) {}

  /** From the upstream's BackendKeyData: its key is 4 bytes (protocol 3.0) or longer (3.2). */
  register(session: Cancellable, processId: number, secretKey: Buffer): void {
    const key = cancelKey(processId, secretKey);
    this.byKey.set(key, { session, processId, secretKey });
    this.keyOf.set(session, key);
  }

  remove(session: Cancellable): void {
    const key = this.keyOf.get(session);
    if (key === undefined) return;
    this.keyOf.delete(session);
    this.byKey.delete(key);
  }

  get size(): number {
    return this.byKey.size;
  }

  /**
   * Unknown keys are ignored, as PostgreSQL ignores them: the proxy is no relay for strangers.
   * Resolves once the cancel was delivered: PostgreSQL closes a cancel connection only after it has
   * signalled the backend, so the client's own cancel connection is closed after that and a late cancel
   * cannot hit the client's next statement. Resolves after `timeoutMs` at the latest.
   * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-CANCELING-REQUESTS
   */
  cancel(processId: number, secretKey: Buffer): Promise<void> {
    const entry = this.byKey.get(cancelKey(processId, secretKey));
    if (entry === undefined) return Promise.resolve();
    entry.session.cancelLocal();
    const packet = Buffer.alloc(12 + secretKey.length);
    packet.writeInt32BE(packet.length, 0);
    packet.writeInt32BE(StartupCode.CancelRequest, 4);
    packet.writeInt32BE(processId, 8);
    secretKey.copy(packet, 12);
    return new Promise((resolve) => {
      const socket = connect(this.upstream.port, this.upstream.host, () => socket.write(packet));
      const timer = setTimeout(() => socket.destroy(), this.upstream.timeoutMs);
      socket.on('data', () => undefined);
      socket.on('error', () => socket.destroy());
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

function cancelKey(processId: number, secretKey: Buffer): string {
  return `${processId}:${secretKey.toString('hex')}`;
}

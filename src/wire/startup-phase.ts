// The startup phase of a client connection, packet by packet as PostgreSQL's ProcessStartupPacket
// takes them: SSLRequest and GSSENCRequest are answered here, a CancelRequest is forwarded, and a
// StartupMessage goes upstream unchanged for PostgreSQL to answer (version, options, authentication).
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { decodeStartupPacket, unencryptedAfterTlsRequest, type FrontendMessage, type FrontendReader } from './frontend-codec.ts';
import { SSL_ACCEPT, SSL_REFUSE } from './backend-writer.ts';
import type { SessionDeps } from './session.ts';

/** What the startup phase needs of its session. */
export interface StartupHost {
  readonly client: Socket;
  readonly reader: FrontendReader;
  readonly deps: Pick<SessionDeps, 'tls' | 'cancels' | 'config'>;
  /** TLS has started: the session reads and writes `secure` from now on. */
  switchToTls(secure: TLSSocket): void;
  /** Opens the upstream connection and sends it the client's StartupMessage. */
  connectUpstream(startup: Buffer): Promise<void>;
  close(reason: string): void;
}

/** Handles one startup-phase packet; returns a promise when later messages must wait for it. */
export function handleStartupPacket(host: StartupHost, message: FrontendMessage): Promise<void> | undefined {
  const packet = decodeStartupPacket(message.raw);
  switch (packet.kind) {
    case 'ssl':
      if (host.reader.bufferedBytes > 0) return refuseDataAfterTlsRequest(host, canStartTls(host) ? SSL_ACCEPT : SSL_REFUSE);
      return negotiateTls(host);
    case 'gssenc':
      if (host.reader.bufferedBytes > 0) return refuseDataAfterTlsRequest(host, SSL_REFUSE);
      host.client.write(SSL_REFUSE);
      return undefined;
    case 'cancel':
      // Nothing more is read from a cancel connection; it closes once the cancel has reached PostgreSQL.
      host.client.pause();
      return host.deps.cancels.cancel(packet.processId, packet.secretKey).then(() => host.close('cancel request handled'));
    case 'startup':
      // Until authenticated, a message is no larger than PostgreSQL reads for a password, SASL or GSS
      // token (PG_MAX_AUTH_TOKEN_LENGTH), checked at its header; over it, PostgreSQL just closes.
      // https://github.com/postgres/postgres/blob/REL_15_STABLE/src/backend/libpq/auth.c (recv_password_packet)
      host.reader.limitMessageBytes(host.deps.config.maxAuthTokenBytes + 4, true);
      return host.connectUpstream(message.raw);
  }
}

/** PostgreSQL answers the request, then names the plaintext that came behind it (FATAL 08P01). */
function refuseDataAfterTlsRequest(host: StartupHost, answer: Buffer): undefined {
  host.client.write(answer);
  throw unencryptedAfterTlsRequest();
}

function canStartTls(host: StartupHost): boolean {
  return host.deps.tls !== null && !(host.client instanceof TLSSocket);
}

function negotiateTls(host: StartupHost): Promise<void> | undefined {
  if (!canStartTls(host)) {
    host.client.write(SSL_REFUSE);
    return undefined;
  }
  const raw = host.client;
  raw.removeAllListeners('data');
  raw.removeAllListeners('close');
  raw.removeAllListeners('error');
  raw.setTimeout(0);
  raw.write(SSL_ACCEPT);
  const secure = new TLSSocket(raw, { isServer: true, secureContext: host.deps.tls! });
  host.switchToTls(secure);
  return new Promise<void>((resolve) => {
    secure.once('secure', () => resolve());
    secure.once('close', () => resolve());
  });
}

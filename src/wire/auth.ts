// Authentication is relayed, never checked: the proxy sees no password. The one change it makes is to
// the SASL mechanism list: SCRAM-SHA-256-PLUS binds to the server certificate the client sees
// (tls-server-end-point), and a client's TLS ends at the proxy. When the proxy's certificate is the
// upstream's own, the binding still holds and PLUS stays; otherwise it is removed so that clients pick
// plain SCRAM. (libpq with channel_binding=prefer over TLS then tells the server it "supports binding
// but thinks the server does not", which PostgreSQL refuses: such clients set channel_binding=disable,
// or the proxy is given the upstream's certificate. docs/architecture.md has the table.)
// https://www.postgresql.org/docs/current/sasl-authentication.html
import { BackendCode } from './codes.ts';
import { BodyReader } from './frontend-codec.ts';
import { MessageWriter } from './backend-writer.ts';

const CHANNEL_BINDING = 'SCRAM-SHA-256-PLUS';

export function stripChannelBinding(raw: Buffer): Buffer {
  const reader = new BodyReader(raw, 9);
  const mechanisms: string[] = [];
  for (let name = reader.cstring(); name !== ''; name = reader.cstring()) mechanisms.push(name);
  if (!mechanisms.includes(CHANNEL_BINDING)) return raw;
  const w = new MessageWriter(raw.length);
  w.begin(BackendCode.Authentication).int32(raw.readInt32BE(5));
  for (const name of mechanisms) if (name !== CHANNEL_BINDING) w.cstring(name);
  w.byte(0).end();
  return Buffer.from(w.finish());
}

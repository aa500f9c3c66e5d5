// Statement text on the wire in the session's client_encoding: PostgreSQL reads a Query's or Parse's
// text in client_encoding (pq_getmsgstring converts it), so the proxy decodes the texts it must
// understand that way, and encodes the statements it writes in the client's stead the same way.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
// https://www.postgresql.org/docs/current/multibyte.html
import { BodyReader, decodeParse, type Parse } from './frontend-codec.ts';
import type { MessageWriter } from './backend-writer.ts';
import { decodeClientText, encodeClientText, encodeResultText, isSupportedClientEncoding, isUtf8Encoding } from '../sql/client-encoding.ts';
import { protocolViolation } from '../errors.ts';
import type { Session } from './session.ts';

const BODY = 5;

/**
 * Notes client_encoding and is_superuser (it follows SET ROLE and SET SESSION AUTHORIZATION) from an
 * upstream ParameterStatus; every other parameter is the client's business.
 * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-ASYNC
 */
export function noteClientEncoding(session: Session, raw: Buffer): void {
  const reader = new BodyReader(raw, BODY);
  const name = reader.cstring();
  if (name === 'client_encoding') session.clientEncoding = reader.cstring();
  else if (name === 'is_superuser') session.isSuperuser = reader.cstring() === 'on';
}

/**
 * The text of a Query. Where the proxy cannot read the session's encoding, ASCII is enough to tell
 * whether the text is ours (keywords and names of ours are ASCII); a local one then fails with the
 * reason (`statementText`).
 */
export function queryText(session: Session, raw: Buffer): string {
  const end = raw.indexOf(0, BODY);
  if (end !== raw.length - 1) throw protocolViolation(end < 0 ? 'invalid string in message' : 'invalid message format');
  return statementText(session, raw.subarray(BODY, end));
}

/** A Parse message with its statement text read in the session's encoding. */
export function parseMessage(session: Session, raw: Buffer): Parse {
  const parse = decodeParse(raw);
  const nameEnd = raw.indexOf(0, BODY);
  const sqlEnd = raw.indexOf(0, nameEnd + 1);
  return { ...parse, sql: statementText(session, raw.subarray(nameEnd + 1, sqlEnd)) };
}

function statementText(session: Session, bytes: Buffer): string {
  if (!isSupportedClientEncoding(session.clientEncoding)) return bytes.toString('latin1');
  return decodeClientText(bytes, session.clientEncoding);
}

const TEXT_OID = 25;
const JSONB_OID = 3802;

/**
 * A local result's value as PostgreSQL sends it to this session: text forms, and text's and jsonb's
 * binary forms (textsend/jsonb_send convert too), in its client_encoding; other binary forms as they are.
 */
export function inClientEncoding(value: Buffer | null, typeOid: number, format: number, encoding: string): Buffer | null {
  if (value === null || isUtf8Encoding(encoding)) return value;
  if (format === 0 || typeOid === TEXT_OID) return encodeResultText(value.toString('utf8'), encoding);
  if (typeOid === JSONB_OID) return Buffer.concat([value.subarray(0, 1), encodeResultText(value.toString('utf8', 1), encoding)]);
  return value;
}

/**
 * Writes `text` as a NUL-terminated string in the session's encoding (in one the proxy cannot read,
 * the bytes `statementText` read, unchanged: only statements of PostgreSQL's go up in such a session).
 */
export function clientCString(w: MessageWriter, session: Session, text: string): MessageWriter {
  const encoding = session.clientEncoding;
  const bytes = isSupportedClientEncoding(encoding) ? encodeClientText(text, encoding) : Buffer.from(text, 'latin1');
  return w.bytes(bytes).byte(0);
}

// Text in the session's client_encoding. PostgreSQL converts everything a client sends (statement
// text, text parameters, COPY data) from client_encoding to the server's encoding, and everything it
// sends back the other way; the proxy must read and write text the same way, or a non-ASCII id sent by
// an SJIS client would be stored mangled and a rewritten statement would reach PostgreSQL as different
// characters than the client wrote. The session learns the encoding from ParameterStatus.
// https://www.postgresql.org/docs/current/multibyte.html#MULTIBYTE-CONVERSIONS-SUPPORTED
import iconv from 'iconv-lite';
import { SqlState, VectorgateError } from '../errors.ts';

/** PostgreSQL's name of a client encoding (as ParameterStatus reports it) → iconv-lite's name. */
const ICONV_NAMES: Readonly<Record<string, string>> = {
  SJIS: 'shiftjis', BIG5: 'big5', GBK: 'gbk', GB18030: 'gb18030', UHC: 'cp949', EUC_JP: 'eucjp', EUC_CN: 'gb2312', EUC_KR: 'euckr',
  LATIN1: 'iso88591', LATIN2: 'iso88592', LATIN3: 'iso88593', LATIN4: 'iso88594', LATIN5: 'iso88599', LATIN6: 'iso885910',
  LATIN7: 'iso885913', LATIN8: 'iso885914', LATIN9: 'iso885915', LATIN10: 'iso885916',
  ISO_8859_5: 'iso88595', ISO_8859_6: 'iso88596', ISO_8859_7: 'iso88597', ISO_8859_8: 'iso88598',
  WIN866: 'cp866', WIN874: 'windows874', WIN1250: 'win1250', WIN1251: 'win1251', WIN1252: 'win1252', WIN1253: 'win1253',
  WIN1254: 'win1254', WIN1255: 'win1255', WIN1256: 'win1256', WIN1257: 'win1257', WIN1258: 'win1258', KOI8R: 'koi8r', KOI8U: 'koi8u',
};

/**
 * UTF8, and SQL_ASCII, for which PostgreSQL converts nothing: the bytes reach a UTF8 database as
 * they are and are checked there as UTF-8.
 */
const AS_UTF8 = new Set(['UTF8', 'SQL_ASCII']);

function iconvName(encoding: string): string | null {
  return AS_UTF8.has(encoding) ? null : ICONV_NAMES[encoding] ?? unsupported(encoding);
}

export function isSupportedClientEncoding(encoding: string): boolean {
  return AS_UTF8.has(encoding) || ICONV_NAMES[encoding] !== undefined;
}

/** Local statements run only in encodings the proxy reads as PostgreSQL does; else 0A000. */
export function checkClientEncoding(encoding: string): void {
  iconvName(encoding);
}

/** EUC_TW, EUC_JIS_2004, SHIFT_JIS_2004, JOHAB, MULE_INTERNAL: refused rather than guessed at. */
function unsupported(encoding: string): never {
  throw new VectorgateError(SqlState.FeatureNotSupported, `vectorgate cannot read statements of its own in client_encoding "${encoding}"`, {
    hint: 'SET client_encoding to UTF8 (or an encoding such as SJIS, BIG5, GBK, EUC_JP, LATIN1, WIN1252) for vector statements.',
  });
}

/**
 * Decodes bytes the client sent in `encoding` (PostgreSQL's name). Bytes that are no character of it
 * are 22021, as PostgreSQL's own conversion reports them, instead of becoming U+FFFD; so is NUL, which
 * no PostgreSQL text can hold.
 */
export function decodeClientText(bytes: Buffer, encoding: string): string {
  // SQL_ASCII bytes are checked by the UTF8 database, so PostgreSQL names UTF8.
  const shown = encoding === 'SQL_ASCII' ? 'UTF8' : encoding;
  if (bytes.includes(0)) throw new VectorgateError(SqlState.CharacterNotInRepertoire, `invalid byte sequence for encoding "${shown}": 0x00`);
  const name = iconvName(encoding);
  const text = name === null ? bytes.toString('utf8') : iconv.decode(bytes, name);
  if (text.includes('\uFFFD') && !encodeClientText(text, encoding).equals(bytes)) {
    throw new VectorgateError(SqlState.CharacterNotInRepertoire, `invalid byte sequence for encoding "${shown}"`);
  }
  return text;
}

/** Decodes a stream of the client's bytes (COPY data), in which a character may be split between chunks. */
export interface StreamDecoder {
  write(bytes: Buffer): string;
  end(): string;
}

export function streamDecoder(encoding: string): StreamDecoder {
  const decoder = iconv.getDecoder(iconvName(encoding) ?? 'utf8');
  // U+FFFD stands for bytes that are no character, unless the encoding has U+FFFD itself (GB18030).
  const hasReplacement = decodeClientText(encodeClientText('\uFFFD', encoding), encoding) === '\uFFFD';
  const strict = (text: string): string => {
    if (text.includes('\uFFFD') && !hasReplacement) throw new VectorgateError(SqlState.CharacterNotInRepertoire, `invalid byte sequence for encoding "${encoding}"`);
    return text;
  };
  return { write: (bytes) => strict(decoder.write(bytes)), end: () => strict(decoder.end() ?? '') };
}

/** True for encodings whose text is UTF-8 bytes as they are (nothing to convert). */
export function isUtf8Encoding(encoding: string): boolean {
  return AS_UTF8.has(encoding);
}

/**
 * Encodes a result's text for the client, as PostgreSQL converts its output: a character the
 * encoding lacks is 22P05 with PostgreSQL's message, not a silent '?'.
 */
export function encodeResultText(text: string, encoding: string): Buffer {
  const bytes = encodeClientText(text, encoding);
  if (decodeClientText(bytes, encoding) === text) return bytes;
  const missing = [...text].find((ch) => decodeClientText(encodeClientText(ch, encoding), encoding) !== ch) ?? '';
  const sequence = [...Buffer.from(missing, 'utf8')].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ');
  throw new VectorgateError(SqlState.UntranslatableCharacter, `character with byte sequence ${sequence} in encoding "UTF8" has no equivalent in encoding "${encoding}"`);
}

/** Encodes text for PostgreSQL in the session's `encoding`, as the client would have sent it. */
export function encodeClientText(text: string, encoding: string): Buffer {
  const name = iconvName(encoding);
  return name === null ? Buffer.from(text, 'utf8') : iconv.encode(text, name);
}

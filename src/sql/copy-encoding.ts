// COPY data in the session's client_encoding. PostgreSQL converts text and CSV input to the server's
// encoding before it splits lines and fields, which matters because a second byte of SJIS, BIG5 or
// GBK may be 0x5C, the text format's escape character; the proxy transcodes that input to UTF-8 the
// same way, as a stream (a character may be split between CopyData messages). Binary COPY is framed
// by lengths, so its text fields are decoded one by one, as text parameters are (copy-plan.ts).
// https://www.postgresql.org/docs/current/sql-copy.html
// https://www.postgresql.org/docs/current/multibyte.html
import { isUtf8Encoding, streamDecoder } from './client-encoding.ts';
import type { CopyOptions } from './copy-format.ts';
import type { CopySink } from './local-plan.ts';

/** `sink`, fed UTF-8: text and CSV data are transcoded from `encoding` first. */
export function utf8CopySink(sink: CopySink, format: CopyOptions['format'], encoding: string): CopySink {
  if (format === 'binary' || isUtf8Encoding(encoding)) return sink;
  const decoder = streamDecoder(encoding);
  return {
    write: (data) => sink.write(Buffer.from(decoder.write(data), 'utf8')),
    async end() {
      const rest = decoder.end();
      if (rest !== '') await sink.write(Buffer.from(rest, 'utf8'));
      return sink.end();
    },
  };
}

// NoticeResponse of the proxy's own: the fields of an ErrorResponse with severity NOTICE and SQLSTATE
// 00000, as PostgreSQL sends for a RAISE NOTICE or a no-op statement.
// https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-NOTICERESPONSE
import { BackendCode } from './codes.ts';
import { MessageWriter } from './backend-writer.ts';
import { SqlState } from '../errors.ts';

export function noticeMessage(message: string): Buffer {
  const w = new MessageWriter(message.length + 32);
  w.begin(BackendCode.NoticeResponse);
  w.byte(0x53).cstring('NOTICE'); // S
  w.byte(0x56).cstring('NOTICE'); // V: not localized
  w.byte(0x43).cstring(SqlState.SuccessfulCompletion); // C
  w.byte(0x4d).cstring(message); // M
  w.byte(0).end();
  return w.finish();
}

// The backend framer on its own: streamed bytes leave unchanged whatever the chunking; held messages
// are whole; swallowed ones vanish; message ends are reported once each, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackendFramer, Disposition, type BackendSink } from '../../src/wire/backend-framer.ts';
import { MessageWriter, writeCommandComplete, writeDataRow, writeReadyForQuery, writeRowDescription } from '../../src/wire/backend-writer.ts';
import { BackendCode } from '../../src/wire/codes.ts';

function fixture(): Buffer {
  const w = new MessageWriter();
  writeRowDescription(w, [{ name: 'n', typeOid: 23, typeSize: 4, format: 0 }]);
  for (let i = 0; i < 5; i++) writeDataRow(w, [Buffer.from(String(i)), null]);
  w.begin(BackendCode.NoticeResponse).byte(0x4d).cstring('careful').byte(0).end();
  writeCommandComplete(w, 'SELECT 5');
  writeReadyForQuery(w, 'T');
  return Buffer.from(w.finish());
}

class Recorder implements BackendSink {
  ends: string[] = [];
  constructor(private readonly choose: (code: number) => Disposition) {}
  onHeader(code: number): Disposition { return this.choose(code); }
  onHeld(code: number, raw: Buffer): Buffer | null {
    this.ends.push(`held:${String.fromCharCode(code)}:${raw.length}`);
    return raw;
  }
  onEnd(code: number): void { this.ends.push(String.fromCharCode(code)); }
}

function run(chunks: Buffer[], choose: (code: number) => Disposition): { out: Buffer; ends: string[] } {
  const sink = new Recorder(choose);
  const framer = new BackendFramer(sink, 1024);
  const out = Buffer.concat(chunks.flatMap((c) => framer.push(c)));
  return { out, ends: sink.ends };
}

const data = fixture();

test('streamed messages leave byte for byte at every split', () => {
  const whole = run([data], () => Disposition.Stream);
  assert.deepEqual(whole.out, data);
  for (let a = 0; a <= data.length; a++) {
    const split = run([data.subarray(0, a), data.subarray(a)], () => Disposition.Stream);
    assert.deepEqual(split.out, data, `split at ${a}`);
    assert.deepEqual(split.ends, whole.ends);
  }
  assert.deepEqual(whole.ends, ['T', 'D', 'D', 'D', 'D', 'D', 'N', 'C', 'Z']);
});

test('held and swallowed messages at every split', () => {
  const choose = (code: number) => code === BackendCode.ReadyForQuery ? Disposition.Hold
    : code === BackendCode.NoticeResponse ? Disposition.Swallow : Disposition.Stream;
  const noticeStart = data.indexOf(Buffer.from('N'));
  const noticeLength = data.readInt32BE(noticeStart + 1) + 1;
  const expected = Buffer.concat([data.subarray(0, noticeStart), data.subarray(noticeStart + noticeLength)]);
  for (let a = 0; a <= data.length; a++) {
    for (const b of [a, Math.min(data.length, a + 3)]) {
      const { out, ends } = run([data.subarray(0, a), data.subarray(a, b), data.subarray(b)], choose);
      assert.deepEqual(out, expected, `split at ${a},${b}`);
      assert.deepEqual(ends, ['T', 'D', 'D', 'D', 'D', 'D', 'N', 'C', 'held:Z:6']);
    }
  }
});

test('one chunk of many streamed messages leaves as one slice', () => {
  const sink = new Recorder(() => Disposition.Stream);
  const out = new BackendFramer(sink, 1024).push(data);
  assert.equal(out.length, 1);
});

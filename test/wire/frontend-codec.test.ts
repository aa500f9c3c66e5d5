// The frontend codec on its own: every fixture stream split at every byte offset gives the same
// messages; decoders read what pg-protocol's serializer wrote; malformed framing is a FATAL 08P01.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serialize as s } from 'pg-protocol';
import { FrontendReader, decodeBind, decodeDescribe, decodeExecute, decodeParse, decodeQuery, decodeStartupPacket, type FrontendMessage } from '../../src/wire/frontend-codec.ts';
import { VectorgateError } from '../../src/errors.ts';

const LIMITS = { maxMessageBytes: 1 << 20, maxStartupPacketBytes: 10_000 };

const typedFixtures: Buffer[] = [
  s.query('SELECT 1'),
  s.parse({ name: 'st', text: 'SELECT $1::int', types: [23] }),
  s.bind({ portal: 'p', statement: 'st', values: ['42', null, Buffer.from([1, 2, 3])] }),
  s.describe({ type: 'S', name: 'st' }),
  s.describe({ type: 'P', name: 'p' }),
  s.execute({ portal: 'p', rows: 10 }),
  s.close({ type: 'P', name: 'p' }),
  s.flush(),
  s.sync(),
  s.copyData(Buffer.from('1\t2\n')),
  s.copyDone(),
  s.copyFail('stop'),
  s.password('secret'),
  s.end(),
];
const startup = s.startup({ user: 'alice', database: 'app', application_name: 'tést' });
const stream = Buffer.concat([startup, ...typedFixtures]);

function readAll(chunks: Buffer[]): FrontendMessage[] {
  const reader = new FrontendReader(LIMITS);
  return chunks.flatMap((chunk) => reader.push(chunk));
}

function rawOf(messages: FrontendMessage[]): string[] {
  return messages.map((m) => m.raw.toString('hex'));
}

test('every split of the stream yields the same messages', () => {
  const whole = rawOf(readAll([stream]));
  assert.equal(whole.length, typedFixtures.length + 1);
  assert.deepEqual(whole, [startup, ...typedFixtures].map((b) => b.toString('hex')));
  for (let at = 0; at <= stream.length; at++) {
    assert.deepEqual(rawOf(readAll([stream.subarray(0, at), stream.subarray(at)])), whole, `split at ${at}`);
  }
  const bytes = Array.from(stream, (b) => Buffer.from([b]));
  assert.deepEqual(rawOf(readAll(bytes)), whole, 'one byte at a time');
});

test('decoders read what the serializer wrote', () => {
  const startupPacket = decodeStartupPacket(startup);
  assert.equal(startupPacket.kind, 'startup');
  if (startupPacket.kind === 'startup') assert.equal(startupPacket.params.get('application_name'), 'tést');
  assert.deepEqual(decodeStartupPacket(s.requestSsl()), { kind: 'ssl' });
  assert.deepEqual(decodeStartupPacket(s.cancel(1234, -5)), { kind: 'cancel', processId: 1234, secretKey: -5 });
  assert.deepEqual(decodeQuery(s.query('SELECT 1')), { sql: 'SELECT 1' });
  assert.deepEqual(decodeParse(s.parse({ name: 'st', text: 'SELECT $1', types: [23, 25] })), { name: 'st', sql: 'SELECT $1', paramTypes: [23, 25] });
  const bind = decodeBind(s.bind({ portal: 'p', statement: 'st', values: ['42', null], binary: true }));
  assert.equal(bind.portal, 'p');
  assert.equal(bind.statement, 'st');
  assert.deepEqual(bind.params.map((p) => p?.toString() ?? null), ['42', null]);
  assert.deepEqual(bind.resultFormats, [1]);
  assert.deepEqual(decodeDescribe(s.describe({ type: 'P', name: 'p' })), { kind: 'P', name: 'p' });
  assert.deepEqual(decodeExecute(s.execute({ portal: 'p', rows: 7 })), { portal: 'p', maxRows: 7 });
});

function fatalCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VectorgateError);
    assert.equal(err.severity, 'FATAL');
    return err.code;
  }
  return 'no error';
}

test('malformed framing is a FATAL protocol violation', () => {
  const typed = () => {
    const r = new FrontendReader(LIMITS);
    r.push(startup);
    return r;
  };
  assert.equal(fatalCode(() => typed().push(Buffer.from([0x7a, 0, 0, 0, 4]))), '08P01', 'unknown type');
  assert.equal(fatalCode(() => typed().push(Buffer.from([0x51, 0, 0, 0, 3]))), '08P01', 'length below 4');
  assert.equal(fatalCode(() => typed().push(Buffer.from([0x51, 0x7f, 0, 0, 0]))), '08P01', 'over the size limit');
  assert.equal(fatalCode(() => new FrontendReader(LIMITS).push(Buffer.from([0, 0, 0, 2]))), '08P01', 'startup too short');
  assert.equal(fatalCode(() => new FrontendReader(LIMITS).push(Buffer.from([0, 1, 0, 0]))), '08P01', 'startup too long');
  assert.equal(fatalCode(() => decodeQuery(Buffer.from([0x51, 0, 0, 0, 5, 0x41]))), '08P01', 'unterminated string');
  assert.equal(fatalCode(() => decodeExecute(Buffer.from([0x45, 0, 0, 0, 5, 0]))), '08P01', 'truncated body');
  assert.equal(fatalCode(() => decodeStartupPacket(s.startup({ database: 'x' }))), '08P01', 'no user');
  assert.equal(fatalCode(() => new FrontendReader(LIMITS).push(Buffer.concat([s.requestSsl(), s.query('x')]))), '08P01', 'bytes after SSLRequest');
});

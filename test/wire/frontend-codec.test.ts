// The frontend codec on its own: every fixture stream split at every byte offset gives the same
// messages; decoders read what pg-protocol's serializer wrote; malformed framing is a FATAL 08P01.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serialize as s } from 'pg-protocol';
import { FrontendReader, decodeBind, decodeDescribe, decodeExecute, decodeParse, decodeQuery, decodeStartupPacket, startupParameters, type FrontendMessage } from '../../src/wire/frontend-codec.ts';
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
  assert.deepEqual(decodeStartupPacket(startup), { kind: 'startup', protocol: 196608 });
  assert.equal(startupParameters(startup).get('application_name'), 'tést');
  assert.deepEqual(decodeStartupPacket(s.requestSsl()), { kind: 'ssl' });
  assert.deepEqual(decodeStartupPacket(s.cancel(1234, -5)), { kind: 'cancel', processId: 1234, secretKey: Buffer.from([0xff, 0xff, 0xff, 0xfb]) });
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

function fatalCode(fn: () => unknown, severity = 'FATAL'): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VectorgateError);
    assert.equal(err.severity, severity);
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

  assert.equal(fatalCode(() => decodeQuery(Buffer.from([0x51, 0, 0, 0, 5, 0x41]))), '08P01', 'unterminated string');
  assert.equal(fatalCode(() => decodeExecute(Buffer.from([0x45, 0, 0, 0, 5, 0]))), '08P01', 'truncated body');
});

test('a bad startup length is rejected silently, as PostgreSQL logs it and just closes', () => {
  const silent = (bytes: number[]) => fatalCode(() => new FrontendReader(LIMITS).push(Buffer.from(bytes)), 'COMMERROR');
  assert.equal(silent([0, 0, 0, 2]), '08P01', 'startup too short');
  assert.equal(silent([0, 1, 0, 0]), '08P01', 'startup too long');
  assert.equal(silent([0x47, 0x45, 0x54, 0x20]), '08P01', 'an HTTP request');
  // MAX_STARTUP_PACKET_LENGTH counts the packet without its length word.
  assert.deepEqual(new FrontendReader(LIMITS).push(Buffer.from([0, 0, 0x27, 0x14])), [], '10,004 bytes is legal');
  assert.equal(silent([0, 0, 0x27, 0x15]), '08P01', '10,005 bytes is not');
  const cancelWithKey = (keyBytes: number) => {
    const packet = Buffer.alloc(12 + keyBytes, 7);
    packet.writeInt32BE(packet.length, 0);
    packet.writeInt32BE(80877102, 4);
    packet.writeInt32BE(99, 8);
    return packet;
  };
  assert.deepEqual(decodeStartupPacket(cancelWithKey(32)), { kind: 'cancel', processId: 99, secretKey: Buffer.alloc(32, 7) }, '3.2 key');
  assert.equal(fatalCode(() => decodeStartupPacket(cancelWithKey(3)), 'COMMERROR'), '08P01', 'short cancel key');
  assert.equal(fatalCode(() => decodeStartupPacket(cancelWithKey(257)), 'COMMERROR'), '08P01', 'cancel key over 256 bytes');
});

test('every 3.x StartupMessage switches to typed messages; other versions are left to PostgreSQL', () => {
  const v32 = Buffer.from(startup);
  v32.writeInt32BE(0x30002, 4);
  const messages = readAll([v32, s.query('SELECT 1')]);
  assert.deepEqual(messages.map((m) => m.code), [0, 0x51]);
  assert.deepEqual(decodeStartupPacket(v32), { kind: 'startup', protocol: 0x30002 });
  const v2 = Buffer.from(startup);
  v2.writeInt32BE(0x20000, 4);
  assert.deepEqual(decodeStartupPacket(v2), { kind: 'startup', protocol: 0x20000 });
});

test('before authentication an oversized message is rejected at its header, silently', () => {
  const reader = new FrontendReader(LIMITS);
  reader.push(startup);
  reader.limitMessageBytes(1004, true);
  assert.deepEqual(reader.push(s.password('x'.repeat(998))).length, 1, 'a 999-byte body fits');
  const header = Buffer.from([0x70, 0, 0, 0x03, 0xf1]); // body of 1,001 bytes
  assert.equal(fatalCode(() => reader.push(header), 'COMMERROR'), '08P01');
  assert.equal(reader.bufferedBytes, 0, 'nothing of it was kept');
});

/** A Query of `bytes` SQL characters, with a seeded pattern so that misplaced bytes show. */
function bigQuery(bytes: number): Buffer {
  const sql = Buffer.alloc(bytes);
  let x = 12345;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    sql[i] = 0x61 + ((x >>> 16) % 26);
  }
  return Buffer.concat([Buffer.from([0x51]), int32(bytes + 5), sql, Buffer.from([0])]);
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
}

test('a message spanning many chunks comes out whole, whatever the split', () => {
  const big = bigQuery(3000);
  const stream2 = Buffer.concat([startup, s.sync(), big, s.sync(), big, s.flush()]);
  const expected = [startup, s.sync(), big, s.sync(), big, s.flush()].map((b) => b.toString('hex'));
  for (let at = 0; at <= stream2.length; at += 7) {
    assert.deepEqual(rawOf(readAll([stream2.subarray(0, at), stream2.subarray(at)])), expected, `split at ${at}`);
  }
  for (const size of [1, 2, 3, 5, 64, 1000, 4096]) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < stream2.length; at += size) chunks.push(stream2.subarray(at, at + size));
    assert.deepEqual(rawOf(readAll(chunks)), expected, `chunks of ${size}`);
  }
});

test('bytes of a half-received message are counted, and released when it completes', () => {
  const reader = new FrontendReader(LIMITS);
  reader.push(startup);
  const big = bigQuery(200_000);
  let seen = 0;
  for (let at = 0; at < big.length; at += 65_536) {
    const chunk = big.subarray(at, at + 65_536);
    const out = reader.push(chunk);
    seen += chunk.length;
    if (seen < big.length) {
      assert.equal(out.length, 0);
      assert.equal(reader.bufferedBytes, seen);
    } else {
      assert.ok(out[0]!.raw.equals(big));
    }
  }
  assert.equal(reader.bufferedBytes, 0);
});

test('Parse and Bind counts are unsigned 16-bit: 40,000 parameters decode', () => {
  const count = 40_000;
  const types = Array.from({ length: count }, () => 23);
  const parse = decodeParse(s.parse({ name: 'many', text: 'SELECT $40000::int', types }));
  assert.equal(parse.paramTypes.length, count);
  const values = Array.from({ length: count }, (_, i) => (i % 2 === 0 ? String(i) : null));
  const bind = decodeBind(s.bind({ portal: '', statement: 'many', values }));
  assert.equal(bind.params.length, count);
  assert.equal(bind.params[39_998]?.toString(), '39998');
  assert.equal(bind.params[39_999], null);
});

test('reassembling a message copies each byte about once, not once per chunk', () => {
  const reader = new FrontendReader({ maxMessageBytes: 64 << 20, maxStartupPacketBytes: 10_000 });
  reader.push(startup);
  const big = bigQuery(8 << 20);
  const concat = Buffer.concat;
  let copiedBytes = 0;
  Buffer.concat = (list: readonly Uint8Array[], totalLength?: number) => {
    const out = concat(list, totalLength);
    copiedBytes += out.length;
    return out;
  };
  let messages: FrontendMessage[] = [];
  try {
    for (let at = 0; at < big.length; at += 65_536) messages = messages.concat(reader.push(big.subarray(at, at + 65_536)));
  } finally {
    Buffer.concat = concat;
  }
  assert.equal(messages.length, 1);
  assert.ok(messages[0]!.raw.equals(big));
  assert.ok(copiedBytes <= 2 * big.length, `copied ${copiedBytes} bytes to receive ${big.length}`);
});

test('bytes behind an SSLRequest are held back, not read as messages', () => {
  const reader = new FrontendReader(LIMITS);
  const out = reader.push(Buffer.concat([s.requestSsl(), startup]));
  assert.deepEqual(rawOf(out), [s.requestSsl().toString('hex')]);
  assert.equal(reader.bufferedBytes, startup.length);
  assert.equal(reader.isTyped, false);
});

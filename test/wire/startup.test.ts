// The startup phase, message by message against PostgreSQL itself: for each opening a client may send
// (well formed, newer protocol, malformed, oversized, abandoned), the proxy answers what PostgreSQL
// answers, and closes where it closes without a word.
// https://github.com/postgres/postgres/blob/REL_15_STABLE/src/backend/postmaster/postmaster.c (ProcessStartupPacket)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'pg-protocol';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { probe, startupPacket, type ProbeOptions, type Reply } from '../helpers/startup-probe.ts';

let stack: Stack;
before(async () => { stack = await startStack(); });
after(async () => { await stack?.stop(); });

const PROTOCOL_3_0 = 0x30000;
const PROTOCOL_3_2 = 0x30002;
const trust = { user: ROLES.trust.user, database: DATABASE };

async function both(bytes: Buffer, options: ProbeOptions = {}): Promise<{ proxy: Reply; direct: Reply }> {
  const direct = await probe(stack.cluster.port, bytes, options);
  const proxy = await probe(stack.proxyPort, bytes, options);
  return { proxy, direct };
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
}

/** Only the shape of a successful startup: ParameterStatus and BackendKeyData values differ by server. */
function shape(reply: Reply): string[] {
  return reply.messages.map((m) => (m.startsWith('K') ? 'K' : m));
}

test('protocol 3.2 gets NegotiateProtocolVersion, then a normal session on 3.0, as from PostgreSQL', async () => {
  const { proxy, direct } = await both(Buffer.concat([startupPacket(PROTOCOL_3_2, trust), serialize.query('SELECT 1')]), { readyCount: 2 });
  assert.equal(direct.messages[0], 'v 0003000000000000', 'PostgreSQL 15 offers 3.0 and no options');
  assert.deepEqual(shape(proxy), shape(direct));
  assert.ok(proxy.messages.includes('D (7 bytes)'), 'the query ran');
  assert.equal(proxy.closedByServer, false);
});

test('_pq_ options in the startup packet are PostgreSQL\'s to answer', async () => {
  const packet = startupPacket(PROTOCOL_3_0, { ...trust, '_pq_.x_test': 'on' });
  const { proxy, direct } = await both(Buffer.concat([packet, serialize.query('SELECT 1')]), { readyCount: 2 });
  assert.match(direct.messages[0]!, /^v /, 'NegotiateProtocolVersion names the unknown option');
  assert.deepEqual(shape(proxy), shape(direct));
});

test('a client that connects and closes, or sends part of a packet, gets no answer', async () => {
  const startup = startupPacket(PROTOCOL_3_0, trust);
  for (const [name, bytes] of [
    ['nothing', Buffer.alloc(0)],
    ['two bytes of the length', Buffer.from([0, 0])],
    ['half a startup packet', startup.subarray(0, 12)],
  ] as const) {
    const { proxy, direct } = await both(bytes, { endAfterWrite: true });
    assert.deepEqual(direct, { messages: [], closedByServer: true }, name);
    assert.deepEqual(proxy, direct, name);
  }
});

test('garbage and impossible lengths are closed without an answer', async () => {
  for (const [name, bytes] of [
    ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['length 4', int32(4)],
    ['negative length', int32(-1)],
    ['over MAX_STARTUP_PACKET_LENGTH', Buffer.concat([int32(10_005), int32(PROTOCOL_3_0), Buffer.alloc(100)])],
    ['a cancel request for no session', serialize.cancel(12345, 678)],
  ] as const) {
    const { proxy, direct } = await both(bytes);
    assert.deepEqual(direct, { messages: [], closedByServer: true }, name);
    assert.deepEqual(proxy, direct, name);
  }
});

test('startup packets PostgreSQL refuses get its own FATAL error', async () => {
  for (const [name, bytes] of [
    ['protocol 2.0', startupPacket(0x20000, trust)],
    ['protocol 4.0', startupPacket(0x40000, trust)],
    ['no user', startupPacket(PROTOCOL_3_0, { database: DATABASE })],
    ['no terminator', startupPacket(PROTOCOL_3_0, trust, false)],
    ['unknown database', startupPacket(PROTOCOL_3_0, { user: ROLES.trust.user, database: 'no_such_database' })],
  ] as const) {
    const { proxy, direct } = await both(bytes);
    // A 2.0 client gets a 2.0 error: 'E' and a string, no length.
    assert.match(direct.messages.at(-1)!, /^(E FATAL |bytes 45464154414c)/, name);
    assert.deepEqual(proxy, direct, name);
  }
});

test('SSLRequest with data behind it: refused, then the injection is named', async () => {
  const { proxy, direct } = await both(Buffer.concat([serialize.requestSsl(), startupPacket(PROTOCOL_3_0, trust)]));
  assert.deepEqual(direct.messages, ['N', 'E FATAL 08P01 received unencrypted data after SSL request']);
  assert.deepEqual(proxy, direct);
});

test('an oversized password or SASL message before authentication ends the connection as PostgreSQL ends it', async () => {
  const md5 = startupPacket(PROTOCOL_3_0, { user: ROLES.md5.user, database: DATABASE });
  const scram = startupPacket(PROTOCOL_3_0, { user: ROLES.scram.user, database: DATABASE });
  const header = (bodyBytes: number) => Buffer.concat([Buffer.from([0x70]), int32(bodyBytes + 4), Buffer.alloc(16, 0x61)]);
  for (const [name, startup, bodyBytes] of [
    ['password over 65535 bytes', md5, 65_536],
    ['SASL message over 65535 bytes', scram, 65_536],
  ] as const) {
    const { proxy, direct } = await both(startup, { onAuthRequest: () => header(bodyBytes) });
    // A password message: closed without a word; a SASL one: "password authentication failed".
    assert.match(direct.messages.join(), /^(R 5|R 10,E FATAL 28P01 .*)$/, name);
    assert.equal(direct.closedByServer, true, name);
    assert.deepEqual(proxy, direct, name);
  }
});

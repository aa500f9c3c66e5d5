// Seeded mutation fuzzing of frontend messages through a live proxy, while another session keeps
// querying and checking its answers. The proxy must stay up; only the fuzzed connections may die.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { WireClient, serialize as s, summary } from '../helpers/wire-client.ts';
import { seeded, randomInt, type Random } from '../helpers/random.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261129);
const CONNECTIONS = 600;
const MESSAGES_PER_CONNECTION = 20;

let stack: Stack;
before(async () => { stack = await startStack({ config: { maxMessageBytes: 1 << 20 } }); });
after(async () => { await stack?.stop(); });

const fixtures: Buffer[] = [
  s.query('SELECT 1'), s.query('SELECT vectorgate_version()'), s.query('SELECT 1; SELECT vectorgate_version()'),
  s.parse({ name: 'a', text: 'SELECT $1::int', types: [23] }), s.parse({ text: 'SELECT vectorgate_version()' }),
  s.bind({ statement: 'a', values: ['1'] }), s.bind({}), s.describe({ type: 'S', name: 'a' }), s.describe({ type: 'P' }),
  s.execute({}), s.execute({ rows: 1 }), s.close({ type: 'S', name: 'a' }), s.flush(), s.sync(),
  s.copyData(Buffer.from('x')), s.copyDone(), s.copyFail('no'),
];

function mutate(random: Random, message: Buffer): Buffer {
  const b = Buffer.from(message);
  switch (randomInt(random, 7)) {
    case 0: for (let i = 0; i < 1 + randomInt(random, 3); i++) b[randomInt(random, b.length)] = randomInt(random, 256); return b;
    case 1: return b.subarray(0, randomInt(random, b.length));
    case 2: b.writeInt32BE(randomInt(random, 64) - 8, 1); return b;
    case 3: b[0] = randomInt(random, 128); return b;
    case 4: return Buffer.concat([b, Buffer.from(Array.from({ length: randomInt(random, 16) }, () => randomInt(random, 256)))]);
    case 5: { const at = 5 + randomInt(random, Math.max(1, b.length - 5)); return Buffer.concat([b.subarray(0, at), Buffer.from([0]), b.subarray(at)]); }
    default: return b;
  }
}

/** A connection that sends mutated messages; resolves when it is closed or answered. */
async function fuzzConnection(random: Random, startupPhase: boolean): Promise<void> {
  if (startupPhase) {
    const socket = connect(stack.proxyPort, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(mutate(random, s.startup({ user: ROLES.trust.user, database: DATABASE })));
    await new Promise((r) => setTimeout(r, 5));
    socket.destroy();
    return;
  }
  const client = await WireClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE);
  const batch: Buffer[] = [];
  for (let i = 0; i < MESSAGES_PER_CONNECTION; i++) {
    const message = fixtures[randomInt(random, fixtures.length)]!;
    batch.push(random() < 0.5 ? mutate(random, message) : message);
  }
  client.send(...batch, s.sync(), s.query('SELECT 1'));
  await client.readUntilReady(300).catch(() => undefined);
  client.socket.destroy();
}

test(`fuzzing ${CONNECTIONS * MESSAGES_PER_CONNECTION} frontend messages leaves the proxy and other sessions intact`, async () => {
  const checker = new pg.Client({ host: '127.0.0.1', port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await checker.connect();
  let fuzzing = true;
  let checked = 0;
  const checking = (async () => {
    for (let i = 0; fuzzing; i++) {
      const r = await checker.query('SELECT $1::int * 2 AS n', [i]);
      assert.equal(r.rows[0].n, i * 2);
      const v = await checker.query('SELECT vectorgate_version()');
      assert.equal(v.rows[0].vectorgate_version, '0.1.0');
      checked += 2;
    }
  })();
  const random = seeded(SEED);
  for (let i = 0; i < CONNECTIONS; i++) await fuzzConnection(random, random() < 0.1);
  fuzzing = false;
  await checking;
  await checker.end();
  assert.ok(checked > 0, 'the checking session ran queries during the fuzzing');

  const after = await WireClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE);
  after.send(s.query('SELECT vectorgate_version()'));
  assert.deepEqual(summary(await after.readUntilReady()), ['T:vectorgate_version/25', 'D:0.1.0', 'C:SELECT 1', 'Z:I']);
  await after.close();
  for (let i = 0; i < 50 && stack.proxy.sessions.size > 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(stack.proxy.sessions.size, 0, 'every fuzzed session was closed');
});

test('a malformed message ends only that connection, with FATAL 08P01', async () => {
  const bad = await WireClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE);
  const good = await WireClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE);
  bad.send(Buffer.from([0x7a, 0, 0, 0, 4]));
  const reply = await bad.readUntil(() => false, 5000).catch(() => []);
  assert.equal(bad.closed, true);
  const fatal = reply.find((m) => m.name === 'error');
  assert.equal(fatal?.code, '08P01');
  assert.equal(fatal?.severity, 'FATAL');
  good.send(s.query('SELECT 2'));
  assert.deepEqual(summary(await good.readUntilReady()), ['T:?column?/23', 'D:2', 'C:SELECT 1', 'Z:I']);
  await good.close();
});

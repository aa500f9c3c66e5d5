// Pipelines that mix local and upstream statements before one Sync: responses in the client's order,
// PostgreSQL's error rules (skip to Sync, 25P02, implicit-transaction rollback), over the raw protocol.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { WireClient, serialize as s, summary } from '../helpers/wire-client.ts';

let stack: Stack;
let client: WireClient;
before(async () => {
  stack = await startStack();
  client = await WireClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE);
  const admin = await stack.cluster.admin(DATABASE);
  await admin.query(`GRANT ALL ON SCHEMA public TO ${ROLES.trust.user}`).finally(() => admin.end());
  client.send(s.query('CREATE TABLE t (n int)'));
  await client.readUntilReady();
});
after(async () => {
  await client?.close();
  await stack?.stop();
});

const version = (name: string) => [s.parse({ name, text: 'SELECT vectorgate_version()' }), s.bind({ statement: name }), s.describe({ type: 'P' }), s.execute({})];
const upstream = (sql: string) => [s.parse({ text: sql }), s.bind({}), s.execute({})];

async function rows(sql: string): Promise<string[]> {
  client.send(s.query(sql));
  return summary(await client.readUntilReady()).filter((m) => m.startsWith('D:'));
}

test('local statement between upstream ones answers in order', async () => {
  client.send(...upstream('SELECT 1'), ...version('v1'), ...upstream('SELECT 2'), s.sync());
  assert.deepEqual(summary(await client.readUntilReady()), [
    'parseComplete', 'bindComplete', 'D:1', 'C:SELECT 1',
    'parseComplete', 'bindComplete', 'T:vectorgate_version/25', 'D:0.1.0', 'C:SELECT 1',
    'parseComplete', 'bindComplete', 'D:2', 'C:SELECT 1',
    'Z:I',
  ]);
});

test('local responses are held until Flush or Sync, as PostgreSQL holds its output, and go out in one write', async () => {
  client.send(...version('held'));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(client.unread, 0, 'nothing before Flush or Sync');
  client.send(s.flush());
  assert.deepEqual(summary(await client.readUntil((m) => m.name === 'commandComplete')),
    ['parseComplete', 'bindComplete', 'T:vectorgate_version/25', 'D:0.1.0', 'C:SELECT 1']);
  client.send(s.sync());
  assert.deepEqual(summary(await client.readUntilReady()), ['Z:I']);
  const before = client.chunks;
  client.send(s.bind({ statement: 'held' }), s.execute({}), s.bind({ statement: 'held' }), s.execute({}), s.sync());
  assert.deepEqual(summary(await client.readUntilReady()), ['bindComplete', 'D:0.1.0', 'C:SELECT 1', 'bindComplete', 'D:0.1.0', 'C:SELECT 1', 'Z:I']);
  assert.equal(client.chunks - before, 1, 'a pipeline answered locally is one write');
});

test('an upstream error skips local messages until Sync', async () => {
  client.send(...upstream('SELECT 1/0'), ...version('v2'), s.sync());
  assert.deepEqual(summary(await client.readUntilReady()), ['parseComplete', 'E:22012', 'Z:I']);
  client.send(s.describe({ type: 'S', name: 'v2' }), s.sync());
  assert.deepEqual(summary(await client.readUntilReady()), ['E:26000', 'Z:I'], 'the skipped Parse created nothing');
});

test('a local error skips upstream messages until Sync and rolls back the implicit transaction', async () => {
  client.send(...upstream('INSERT INTO t VALUES (1)'), s.parse({ text: 'SELECT vectorgate_version(1)' }), ...upstream('INSERT INTO t VALUES (2)'), s.sync());
  assert.deepEqual(summary(await client.readUntilReady()), ['parseComplete', 'bindComplete', 'C:INSERT 0 1', 'E:42883', 'Z:I']);
  assert.deepEqual(await rows('SELECT count(*) FROM t'), ['D:0']);
});

test('several pipelines in flight: an error in the first does not skip the second', async () => {
  client.send(...upstream('SELECT 1/0'), s.sync(), ...version('v3'), ...upstream('SELECT 5'), s.sync());
  assert.deepEqual(summary(await client.readUntilReady()), ['parseComplete', 'E:22012', 'Z:I']);
  assert.deepEqual(summary(await client.readUntilReady()), [
    'parseComplete', 'bindComplete', 'T:vectorgate_version/25', 'D:0.1.0', 'C:SELECT 1',
    'parseComplete', 'bindComplete', 'D:5', 'C:SELECT 1', 'Z:I',
  ]);
});

test('local statements in a failed transaction get 25P02; a local error fails the transaction', async () => {
  client.send(s.query('BEGIN'), s.query('SELECT 1/0'), s.query('SELECT vectorgate_version()'), s.query('ROLLBACK'));
  const replies = [];
  for (let i = 0; i < 4; i++) replies.push(summary(await client.readUntilReady()));
  assert.deepEqual(replies, [['C:BEGIN', 'Z:T'], ['E:22012', 'Z:E'], ['E:25P02', 'Z:E'], ['C:ROLLBACK', 'Z:I']]);
  client.send(s.query('BEGIN'), s.query('SELECT vectorgate_version(1)'), s.query('SELECT 1'), s.query('ROLLBACK'));
  replies.length = 0;
  for (let i = 0; i < 4; i++) replies.push(summary(await client.readUntilReady()));
  assert.deepEqual(replies, [['C:BEGIN', 'Z:T'], ['E:42883', 'Z:E'], ['E:25P02', 'Z:E'], ['C:ROLLBACK', 'Z:I']]);
});

test('a multi-statement Query runs in order, stops at the first error, as one transaction', async () => {
  client.send(s.query('SELECT 1; SELECT vectorgate_version(); SELECT 3'));
  assert.deepEqual(summary(await client.readUntilReady()), [
    'T:?column?/23', 'D:1', 'C:SELECT 1', 'T:vectorgate_version/25', 'D:0.1.0', 'C:SELECT 1', 'T:?column?/23', 'D:3', 'C:SELECT 1', 'Z:I',
  ]);
  client.send(s.query('INSERT INTO t VALUES (7); SELECT vectorgate_version(1); INSERT INTO t VALUES (8)'));
  assert.deepEqual(summary(await client.readUntilReady()), ['C:INSERT 0 1', 'E:42883', 'Z:I']);
  assert.deepEqual(await rows('SELECT count(*) FROM t'), ['D:0'], 'the implicit transaction was rolled back');
  client.send(s.query('INSERT INTO t VALUES (9); SELECT vectorgate_version()'));
  await client.readUntilReady();
  assert.deepEqual(await rows('SELECT n FROM t'), ['D:9'], 'and committed when all succeeded');
});

test('Describe of a local statement and portal; binary results; row limits', async () => {
  client.send(s.parse({ name: 'vd', text: 'SELECT vectorgate_version() AS v' }), s.describe({ type: 'S', name: 'vd' }), s.sync());
  assert.deepEqual(summary(await client.readUntilReady()), ['parseComplete', 't:', 'T:v/25', 'Z:I']);
  client.send(s.bind({ statement: 'vd', binary: true }), s.execute({ rows: 1 }), s.sync());
  const msgs = await client.readUntilReady();
  assert.deepEqual(summary(msgs), ['bindComplete', 'D:0.1.0', 'C:SELECT 1', 'Z:I']);
  client.send(s.parse({ name: 'vd', text: 'SELECT vectorgate_version()' }), s.sync());
  assert.deepEqual(summary(await client.readUntilReady()), ['E:42P05', 'Z:I']);
  client.send(s.close({ type: 'S', name: 'vd' }), s.parse({ name: 'vd', text: 'SELECT 1' }), s.bind({ statement: 'vd' }), s.execute({}), s.sync());
  assert.deepEqual(summary(await client.readUntilReady()), ['closeComplete', 'parseComplete', 'bindComplete', 'D:1', 'C:SELECT 1', 'Z:I']);
});

test('a wrong number of parameters for a local statement is an error, and the session goes on', async () => {
  client.send(s.parse({ name: 'vp', text: 'SELECT vectorgate_version()' }), s.bind({ statement: 'vp', values: ['x'] }), s.execute({}), s.sync());
  assert.deepEqual(summary(await client.readUntilReady()), ['parseComplete', 'E:08P01', 'Z:I']);
  assert.deepEqual(await rows('SELECT vectorgate_version()'), ['D:0.1.0']);
});

test('local results flow between upstream ones in a long pipeline', async () => {
  const messages: Buffer[] = [];
  const expected: string[] = [];
  for (let i = 0; i < 200; i++) {
    if (i % 3 === 0) {
      messages.push(s.parse({ text: 'SELECT vectorgate_version()' }), s.bind({}), s.execute({}));
      expected.push('parseComplete', 'bindComplete', 'D:0.1.0', 'C:SELECT 1');
    } else {
      messages.push(s.parse({ text: `SELECT ${i}` }), s.bind({}), s.execute({}));
      expected.push('parseComplete', 'bindComplete', `D:${i}`, 'C:SELECT 1');
    }
  }
  client.send(...messages, s.sync());
  assert.deepEqual(summary(await client.readUntilReady()), [...expected, 'Z:I']);
});

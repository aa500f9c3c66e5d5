// Protocol cases a driver could tell apart from PostgreSQL, each sent with a raw client to the proxy
// and to PostgreSQL directly: the same messages must come back.
// https://www.postgresql.org/docs/current/protocol-flow.html
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { WireClient, serialize, summary, type Message } from '../helpers/wire-client.ts';

let stack: Stack;
before(async () => {
  stack = await startStack();
  const admin = await stack.cluster.admin(DATABASE);
  try {
    await admin.query(`GRANT ALL ON SCHEMA public TO ${ROLES.trust.user}`);
    // The trust role creates a collection too: CREATE on the schema its relation goes into.
    await admin.query(`CREATE SCHEMA IF NOT EXISTS vectorgate AUTHORIZATION pg_database_owner; GRANT USAGE, CREATE ON SCHEMA vectorgate TO ${ROLES.trust.user}`);
  } finally {
    await admin.end();
  }
});
after(async () => { await stack?.stop(); });

/** Runs `script` on a fresh session of each server; returns both servers' messages, as summaries. */
async function onBoth(script: (c: WireClient) => Promise<Message[]>): Promise<{ proxy: string[]; direct: string[] }> {
  const run = async (port: number) => {
    const client = await WireClient.connect(port, ROLES.trust.user, DATABASE);
    try {
      return summary(await script(client));
    } finally {
      await client.close();
    }
  };
  return { direct: await run(stack.cluster.port), proxy: await run(stack.proxyPort) };
}

const copyData = (text: string) => serialize.copyData(Buffer.from(text));
const extendedCopy = (sql: string) => [serialize.parse({ text: sql }), serialize.bind({}), serialize.execute({}), serialize.sync()];

async function tempTable(c: WireClient): Promise<void> {
  c.send(serialize.query('CREATE TEMP TABLE t (id text, vector text, payload text)'));
  await c.readUntilReady();
}

async function count(c: WireClient): Promise<Message[]> {
  c.send(serialize.query('SELECT count(*) FROM t'));
  return c.readUntilReady();
}

test('COPY FROM STDIN in the extended protocol: the Sync sent during COPY is ignored, as PostgreSQL ignores it', async () => {
  const { proxy, direct } = await onBoth(async (c) => {
    await tempTable(c);
    c.send(...extendedCopy('COPY t FROM STDIN'), copyData('a\t[1,2]\t{}\n'), copyData('b\t[3,4]\t{}\n'), serialize.copyDone(), serialize.sync());
    return [...await c.readUntilReady(), ...await count(c)];
  });
  assert.deepEqual(direct, ['parseComplete', 'bindComplete', 'copyInResponse', 'C:COPY 2', 'Z:I', 'T:count/20', 'D:2', 'C:SELECT 1', 'Z:I']);
  assert.deepEqual(proxy, direct);
});

test('COPY in the extended protocol, the client waiting for CopyInResponse before its Sync and data', async () => {
  const { proxy, direct } = await onBoth(async (c) => {
    await tempTable(c);
    c.send(serialize.parse({ text: 'COPY t FROM STDIN' }), serialize.bind({}), serialize.execute({}), serialize.flush());
    const started = await c.readUntil((m) => m.name === 'copyInResponse');
    c.send(serialize.sync(), copyData('a\t[1,2]\t{}\n'), serialize.copyDone(), serialize.sync());
    return [...started, ...await c.readUntilReady(), ...await count(c)];
  });
  assert.deepEqual(proxy, direct);
});

test('a COPY that fails during the extended protocol skips to the next Sync on both', async () => {
  const { proxy, direct } = await onBoth(async (c) => {
    await tempTable(c);
    c.send(...extendedCopy('COPY t FROM STDIN'), copyData('only-one-column\n'), serialize.copyDone(), serialize.sync());
    return [...await c.readUntilReady(), ...await count(c)];
  });
  assert.equal(direct.filter((m) => m.startsWith('E:')).length, 1);
  assert.deepEqual(proxy, direct);
});

test('COPY into a collection in the extended protocol answers as PostgreSQL answers a COPY into a table', async () => {
  const proxyClient = await WireClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE);
  const directClient = await WireClient.connect(stack.cluster.port, ROLES.trust.user, DATABASE);
  try {
    proxyClient.send(serialize.query("SELECT vector_create_collection('t', 2)"));
    assert.ok(!summary(await proxyClient.readUntilReady()).some((m) => m.startsWith('E:')));
    await tempTable(directClient);
    const rows = [copyData('a\t[1,2]\t{}\n'), copyData('b\t[3,4]\t{}\n'), serialize.copyDone(), serialize.sync()];
    const answers: string[][] = [];
    for (const c of [directClient, proxyClient]) {
      c.send(...extendedCopy('COPY t (id, vector, payload) FROM STDIN'), ...rows);
      answers.push(summary(await c.readUntilReady()));
    }
    assert.deepEqual(answers[1], answers[0]);
  } finally {
    await proxyClient.close();
    await directClient.close();
  }
});

test('Parse and Bind with 40,000 parameters (counts are unsigned 16-bit)', async () => {
  const count = 40_000;
  const types = Array.from({ length: count }, () => 23);
  const values = Array.from({ length: count }, (_, i) => String(i + 1));
  const { proxy, direct } = await onBoth(async (c) => {
    c.send(
      serialize.parse({ name: 'many', text: `SELECT $${count}::int AS last`, types }),
      serialize.bind({ statement: 'many', values }),
      serialize.execute({}),
      serialize.sync(),
    );
    return c.readUntilReady();
  });
  assert.deepEqual(direct, ['parseComplete', 'bindComplete', 'D:40000', 'C:SELECT 1', 'Z:I']);
  assert.deepEqual(proxy, direct);
});

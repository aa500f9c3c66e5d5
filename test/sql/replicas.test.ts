// A collection's replica count through the proxy: accepted from 1 to maxReplicas (else 22023 naming the
// limit, and the session goes on), kept in the catalog, listed by vector_collections(), and, since
// the embedded default hosts one replica of each shard, announced by a NOTICE at create.
import { strict as assert } from 'node:assert';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { DATABASE, ROLES } from '../helpers/cluster.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack;
let client: pg.Client;
const notices: { severity?: string; message?: string }[] = [];

before(async () => {
  stack = await startStack({ config: { maxReplicas: 4 } });
  client = new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
  await client.connect();
  client.on('notice', (n) => notices.push(n));
});
after(async () => {
  await client?.end();
  await stack?.stop();
});

test('replicas => 3 is stored, returned and listed; the embedded default says it keeps one', async () => {
  notices.length = 0;
  const created = await client.query(`SELECT vector_create_collection('tripled', 2, shards => 2, replicas => 3) AS spec`);
  assert.equal(created.rows[0].spec.replicas, 3);
  assert.equal(notices.length, 1, 'one NOTICE');
  assert.equal(notices[0]!.severity, 'NOTICE');
  assert.match(notices[0]!.message!, /collection "tripled" keeps one replica of each shard here, not 3/);
  assert.equal(stack.app.spec('tripled')?.replicas, 3, 'in the catalog entry');
  const listed = await client.query(`SELECT name, shards, replicas FROM vector_collections() WHERE name = 'tripled'`);
  assert.deepEqual(listed.rows, [{ name: 'tripled', shards: 2, replicas: 3 }]);
  assert.equal(listed.fields.find((f) => f.name === 'replicas')!.dataTypeID, 23, 'int4');
});

test('without replicas a collection has one, and no NOTICE', async () => {
  notices.length = 0;
  const created = await client.query(`SELECT vector_create_collection('single', 2) AS spec`);
  assert.equal(created.rows[0].spec.replicas, 1);
  assert.deepEqual(notices, []);
  const listed = await client.query(`SELECT replicas FROM vector_collections() WHERE name = 'single'`);
  assert.deepEqual(listed.rows, [{ replicas: 1 }]);
});

test('replicas outside 1..maxReplicas is 22023 naming the limit; nothing is created and the session goes on', async () => {
  for (const replicas of [0, 5, -1]) {
    await assert.rejects(client.query(`SELECT vector_create_collection('bad_${Math.abs(replicas)}', 2, replicas => ${replicas})`), (err: unknown) => {
      assert.equal((err as { code?: string }).code, '22023');
      assert.match((err as Error).message, /replicas must be an integer from 1 to 4 \(maxReplicas\), got -?\d/);
      return true;
    });
  }
  const names = (await client.query(`SELECT name FROM vector_collections() ORDER BY name`)).rows.map((r) => r.name);
  assert.ok(!names.some((n: string) => n.startsWith('bad_')), names.join(', '));
  assert.deepEqual((await client.query('SELECT 1 AS ok')).rows, [{ ok: 1 }]);
});

// Rate limits and concurrent statements per role, through the real stack: each limit is hit (53400
// naming the limit and its value) and recovers, and a flood from one tenant leaves another's searches
// answering. quotaMaxWaitMs is 0, so a request either finds its tokens or is refused at once; the
// rates are low (1–2 per second) and the refusals asserted come right after a burst or a debt, well inside a refill.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { DATABASE, ROLES } from '../helpers/cluster.ts';
import { WireClient, serialize } from '../helpers/wire-client.ts';
import { createOwnCollection, createTenant, eventually, failure, setUpSchema, tenantSessions } from './tenant-fixture.ts';

let stack: Stack;
const sessions = tenantSessions(() => stack);
const { connect } = sessions;
/** Two searches in one composed statement: both take a token. */
const twoSearches = (c: string) => `SELECT count(*) AS n FROM vector_search('${c}', '[1,0]', 1) x, vector_search('${c}', '[0,1]', 1) y`;

before(async () => {
  stack = await startStack({ config: { quotaMaxWaitMs: 0 } });
  await setUpSchema(stack.cluster);
});
after(async () => {
  await sessions.endAll();
  await stack?.stop();
});

test('searches per second: the second search of a statement over the limit is 53400, and tokens refill', async () => {
  await createTenant(stack.cluster, 'vg_searcher', { max_searches_per_second: 1 });
  const client = await connect('vg_searcher');
  await createOwnCollection(client, 'searched');
  const err = await failure(client.query(twoSearches('searched')));
  assert.equal(err.code, '53400');
  assert.equal(err.message, 'role "vg_searcher" exceeded vectorgate.max_searches_per_second = 1');
  assert.match(err.hint ?? '', /ALTER ROLE "vg_searcher" SET vectorgate\.max_searches_per_second/);
  assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1, 'the session goes on');
  const rows = await eventually(() => client.query(`SELECT id FROM vector_search('searched', '[1,0]', 1)`));
  assert.deepEqual(rows.rows, [{ id: 'a' }], 'a token refilled');
  const explained = await failure(client.query(`EXPLAIN SELECT * FROM vector_search('searched', '[1,0]', 1)`));
  assert.equal(explained.code, '53400', 'EXPLAIN runs the search, so it takes a token too');
});

test('write rows per second: upsert rows, deletes and COPY rows all count, then refill', async () => {
  await createTenant(stack.cluster, 'vg_writer', { max_write_rows_per_second: 1 });
  const client = await connect('vg_writer');
  // Three rows on a full bucket of one: admitted, leaving two seconds of debt.
  await createOwnCollection(client, 'written', { a: [1, 0], b: [0, 1], c: [1, 1] });
  const upsert = await failure(client.query(`SELECT vector_upsert('written', 'd', '[2,2]')`));
  assert.equal(upsert.code, '53400');
  assert.equal(upsert.message, 'role "vg_writer" exceeded vectorgate.max_write_rows_per_second = 1');
  assert.equal((await client.query(`SELECT * FROM vector_get('written', 'd')`)).rowCount, 0, 'the refused write wrote nothing');
  await eventually(() => client.query(`SELECT vector_delete('written', 'a')`), 100);
  await eventually(() => client.query(`SELECT vector_upsert('written', '[{"id":"e","vector":[3,3]},{"id":"f","vector":[4,4]}]'::jsonb)`), 100);
  const deleted = await failure(client.query(`SELECT vector_delete('written', 'b')`));
  assert.equal(deleted.code, '53400', 'a delete takes a row token');
});

test('COPY rows take write tokens before each batch is written; a batch over the burst leaves the bucket in debt', async () => {
  await createTenant(stack.cluster, 'fuzz', { max_write_rows_per_second: 2 }, { existing: true });
  const wire = await WireClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE);
  try {
    const ok = await query(wire, `SELECT vector_create_collection('copied', 2, metric => 'l2')`);
    assert.equal(errorOf(ok), undefined);
    const copy = async (data: string) => {
      wire.send(serialize.query('COPY copied FROM STDIN'));
      await wire.readUntil((m) => m.name === 'copyInResponse');
      wire.send(serialize.copyData(Buffer.from(data)), serialize.copyDone());
      return errorOf(await wire.readUntilReady());
    };
    assert.equal(await copy('a\t[1,0]\t\\N\nb\t[0,1]\t\\N\nc\t[1,1]\t\\N\n'), undefined, 'a batch over the burst goes through on a full bucket, leaving it in debt');
    const refused = await copy('d\t[2,2]\t\\N\n');
    assert.equal(refused?.code, '53400');
    assert.equal(refused?.message, 'role "fuzz" exceeded vectorgate.max_write_rows_per_second = 2');
    const got = await query(wire, `SELECT count(*) FROM vector_search('copied', '[1,0]', 10)`);
    assert.equal(errorOf(got), undefined);
    assert.equal(dataRows(got)[0], '3', 'the refused COPY kept nothing');
  } finally {
    wire.socket.destroy();
    await resetRole('fuzz');
  }
});

test('concurrent statements: a second statement while a COPY runs is 53400; free again once it ends', async () => {
  await createTenant(stack.cluster, 'fuzz', { max_concurrent_statements: 1 }, { existing: true });
  const copying = await WireClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE);
  const other = await WireClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE);
  try {
    assert.equal(errorOf(await query(copying, `SELECT vector_create_collection('held', 2, metric => 'l2')`)), undefined);
    copying.send(serialize.query('COPY held FROM STDIN'));
    await copying.readUntil((m) => m.name === 'copyInResponse');
    const refused = errorOf(await query(other, `SELECT * FROM vector_search('held', '[1,0]', 1)`));
    assert.equal(refused?.code, '53400');
    assert.equal(refused?.message, 'role "fuzz" exceeded vectorgate.max_concurrent_statements = 1');
    copying.send(serialize.copyData(Buffer.from('a\t[1,0]\t\\N\n')), serialize.copyDone());
    assert.equal(errorOf(await copying.readUntilReady()), undefined);
    const found = await query(other, `SELECT id FROM vector_search('held', '[1,0]', 1)`);
    assert.equal(errorOf(found), undefined);
    assert.deepEqual(dataRows(found), ['a']);
  } finally {
    copying.socket.destroy();
    other.socket.destroy();
    await resetRole('fuzz');
  }
});

test('a flood from tenant A leaves tenant B\'s searches answering', async () => {
  await createTenant(stack.cluster, 'vg_flood_a', { max_searches_per_second: 1 });
  await createTenant(stack.cluster, 'vg_flood_b');
  const [a1, a2, b1, b2] = [await connect('vg_flood_a'), await connect('vg_flood_a'), await connect('vg_flood_b'), await connect('vg_flood_b')];
  await createOwnCollection(a1, 'flood_a');
  await createOwnCollection(b1, 'flood_b');
  const search = (client: pg.Client, c: string) => client.query(`SELECT id FROM vector_search('${c}', '[1,0]', 1)`).then(() => 'ok', (err: { code?: string }) => err.code ?? 'error');
  const run = async (client: pg.Client, c: string, count: number) => {
    const results: string[] = [];
    for (let i = 0; i < count; i++) results.push(await search(client, c));
    return results;
  };
  const flood = (client: pg.Client) => run(client, 'flood_a', 30);
  const steady = (client: pg.Client) => run(client, 'flood_b', 20);
  const [fa1, fa2, sb1, sb2] = await Promise.all([flood(a1), flood(a2), steady(b1), steady(b2)]);
  const a = [...fa1, ...fa2];
  assert.ok(a.includes('53400'), 'A was refused');
  assert.deepEqual([...new Set(a)].sort(), a.includes('ok') ? ['53400', 'ok'] : ['53400'], 'A got answers or 53400, nothing else');
  assert.deepEqual([...sb1, ...sb2].filter((r) => r !== 'ok'), [], 'every one of B\'s searches answered');
});

async function resetRole(role: string): Promise<void> {
  const admin = await stack.cluster.admin(DATABASE);
  try {
    await admin.query(`ALTER ROLE ${role} RESET ALL`);
  } finally {
    await admin.end();
  }
}

async function query(client: WireClient, sql: string) {
  client.send(serialize.query(sql));
  return client.readUntilReady();
}

function errorOf(messages: { name: string }[]): { code?: string; message?: string } | undefined {
  return messages.find((m) => m.name === 'error') as { code?: string; message?: string } | undefined;
}

function dataRows(messages: { name: string }[]): (string | null)[] {
  return messages.filter((m) => m.name === 'dataRow').map((m) => (m as unknown as { fields: (string | null)[] }).fields[0] ?? null);
}

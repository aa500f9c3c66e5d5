import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';

let stack: Stack;
before(async () => { stack = await startStack(); });
after(async () => { await stack?.stop(); });

function client(): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
}

test('smoke: simple, extended, local', async () => {
  const c = client();
  await c.connect();
  try {
    assert.equal((await c.query('SELECT 1 AS x')).rows[0].x, 1);
    assert.equal((await c.query('SELECT $1::int + 1 AS x', [41])).rows[0].x, 42);
    assert.equal((await c.query('SELECT vectorgate_version()')).rows[0].vectorgate_version, '0.1.0');
    assert.equal((await c.query({ text: 'SELECT vectorgate_version() AS v', values: [] })).rows[0].v, '0.1.0');
    assert.equal((await c.query({ name: 'v', text: 'SELECT vectorgate_version() AS v' })).rows[0].v, '0.1.0');
    assert.equal((await c.query({ name: 'v', text: 'SELECT vectorgate_version() AS v' })).rows[0].v, '0.1.0');
    const multi = await c.query('SELECT 1 AS a; SELECT vectorgate_version(); SELECT 3 AS c') as unknown as pg.QueryResult[];
    assert.deepEqual(multi.map((r) => r.rows[0]), [{ a: 1 }, { vectorgate_version: '0.1.0' }, { c: 3 }]);
  } finally {
    await c.end();
  }
});

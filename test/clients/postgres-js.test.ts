// postgres.js through vectorgate. It pipelines: with max: 1 every query below is written to the one
// connection without waiting for the answers before it, so the proxy must keep them in order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { startTarget, type ClientTarget } from '../helpers/client-target.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { seeded, randomInt } from '../helpers/random.ts';
import { startPipelineProbe } from '../helpers/pipeline-probe.ts';

const VERSION = '0.1.0';

let target: ClientTarget;
let sql: postgres.Sql;
let unprepared: postgres.Sql;

function connect(options: { prepare: boolean; port?: number }): postgres.Sql {
  return postgres({
    host: target.host,
    port: options.port ?? target.port,
    user: ROLES.scram.user,
    password: ROLES.scram.password,
    database: DATABASE,
    max: 1,
    prepare: options.prepare,
    onnotice: () => undefined,
  });
}

before(async () => {
  target = await startTarget();
  sql = connect({ prepare: true });
  unprepared = connect({ prepare: false });
  await sql`CREATE TABLE pgjs_items (id int PRIMARY KEY, label text)`;
});
after(async () => {
  await sql?.end();
  await unprepared?.end();
  await target?.stop();
});

/** Settles every query, keeping each one's value or SQLSTATE, in order. */
async function settleAll(queries: Promise<unknown>[]): Promise<unknown[]> {
  return Promise.all(queries.map((q) => q.then((value) => value, (err: { code?: string }) => `error ${err.code}`)));
}

test('postgres.js: 300 pipelined queries on one connection come back in order', async () => {
  const probe = await startPipelineProbe(target.host, target.port);
  const watched = connect({ prepare: true, port: probe.port });
  try {
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => watched`SELECT ${i}::int AS i, pg_backend_pid() AS pid`));
    assert.deepEqual(results.map((rows) => rows[0]!.i), Array.from({ length: 300 }, (_, i) => i));
    assert.equal(new Set(results.map((rows) => rows[0]!.pid)).size, 1, 'all on one connection');
    assert.ok(probe.maxInFlight() > 1, `postgres.js pipelined (at most ${probe.maxInFlight()} Syncs in flight)`);
  } finally {
    await watched.end();
    await probe.close();
  }
});

test('postgres.js: prepared statements are named statements re-used by PostgreSQL', async () => {
  for (let i = 0; i < 10; i++) {
    const rows = await sql`SELECT ${i}::int * 3 AS tripled`;
    assert.equal(rows[0]!.tripled, i * 3);
  }
  const prepared = await sql`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = 'SELECT $1::int * 3 AS tripled'`;
  assert.equal(prepared[0]!.n, 1);
});

test('postgres.js: sql.begin commits, and rolls back when a statement in it fails', async () => {
  const committed = await sql.begin(async (tx) => {
    await tx`INSERT INTO pgjs_items VALUES (1, 'one')`;
    const [version] = await tx`SELECT vectorgate_version()`;
    await tx`INSERT INTO pgjs_items VALUES (2, ${version!.vectorgate_version})`;
    return tx`SELECT id, label FROM pgjs_items ORDER BY id`;
  });
  assert.deepEqual([...committed], [{ id: 1, label: 'one' }, { id: 2, label: VERSION }]);
  await assert.rejects(sql.begin(async (tx) => {
    await tx`INSERT INTO pgjs_items VALUES (3, 'three')`;
    await tx`SELECT 1/0`;
  }), { code: '22012' });
  const ids = await sql`SELECT id FROM pgjs_items ORDER BY id`;
  assert.deepEqual(ids.map((r) => r.id), [1, 2]);
});

test('postgres.js: a pipelined sql.begin with an error rolls back everything in it', async () => {
  await assert.rejects(sql.begin((tx) => [
    tx`INSERT INTO pgjs_items VALUES (10, 'ten')`,
    tx`SELECT vectorgate_version()`,
    tx`SELECT 1/0`,
    tx`INSERT INTO pgjs_items VALUES (11, 'eleven')`,
    tx`SELECT vectorgate_version()`,
  ]), { code: '22012' });
  const rows = await sql`SELECT count(*)::int AS n FROM pgjs_items WHERE id >= 10`;
  assert.equal(rows[0]!.n, 0);
  assert.equal((await sql`SELECT 1 AS ok`)[0]!.ok, 1, 'the connection is usable after the rollback');
});

for (const mode of ['prepared', 'unprepared'] as const) {
  test(`postgres.js (${mode}): a pipeline mixing vectorgate_version() with parameterized pass-through queries`, async () => {
    const db = mode === 'prepared' ? sql : unprepared;
    const random = seeded(mode === 'prepared' ? 11 : 12);
    const expected: unknown[] = [];
    const queries: Promise<unknown>[] = [];
    for (let i = 0; i < 400; i++) {
      switch (randomInt(random, 4)) {
        case 0: queries.push(db`SELECT vectorgate_version()`.then((r) => r[0]!.vectorgate_version)); expected.push(VERSION); break;
        case 1: queries.push(db`SELECT vectorgate_version() AS v`.then((r) => r[0]!.v)); expected.push(VERSION); break;
        case 2: queries.push(db`SELECT ${i}::int + ${1}::int AS r`.then((r) => r[0]!.r)); expected.push(i + 1); break;
        default: queries.push(db`SELECT ${`text ${i}`}::text AS r`.then((r) => r[0]!.r)); expected.push(`text ${i}`);
      }
    }
    assert.deepEqual(await Promise.all(queries), expected);
  });
}

test('postgres.js: errors in a pipeline fail only their own query', async () => {
  const results = await settleAll([
    sql`SELECT ${1}::int AS r`.then((r) => r[0]!.r),
    sql`SELECT 1/${0}::int AS r`,
    sql`SELECT vectorgate_version()`.then((r) => r[0]!.vectorgate_version),
    sql`SELECT * FROM pgjs_no_such_table`,
    sql`SELECT vectorgate_version()`.then((r) => r[0]!.vectorgate_version),
    sql`SELECT ${'bad'}::int AS r`,
    sql`SELECT ${2}::int AS r`.then((r) => r[0]!.r),
  ]);
  assert.deepEqual(results, [1, 'error 22012', VERSION, 'error 42P01', VERSION, 'error 22P02', 2]);
});

test('postgres.js: the simple protocol with several statements, one of them vectorgate_version()', async () => {
  const results = await sql.unsafe(`SELECT 1 AS a; SELECT vectorgate_version(); SELECT 'c' AS c`).simple();
  assert.deepEqual((results as unknown as postgres.RowList<postgres.Row[]>[]).map((r) => [...r]), [
    [{ a: 1 }], [{ vectorgate_version: VERSION }], [{ c: 'c' }],
  ]);
});

test('postgres.js: cursors fetch a portal in batches, local and pass-through', async () => {
  const batches: number[][] = [];
  for await (const rows of sql`SELECT g FROM generate_series(1, 10) AS g`.cursor(4)) batches.push(rows.map((r) => r.g));
  assert.deepEqual(batches, [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]);
  const versions: string[] = [];
  for await (const rows of sql`SELECT vectorgate_version()`.cursor(1)) versions.push(...rows.map((r) => r.vectorgate_version));
  assert.deepEqual(versions, [VERSION]);
});

test('postgres.js: local answers pipelined between results larger than the proxy holds in memory', async () => {
  // 20 MB of upstream rows arrive while vectorgate_version() answers queue around them; order must hold.
  const big = (n: number) => sql`SELECT repeat(${String(n % 10)}, ${10 * 1024 * 1024})::text AS s`.then((r) => `${r[0]!.s.length}:${r[0]!.s[0]}`);
  const version = () => sql`SELECT vectorgate_version()`.then((r) => r[0]!.vectorgate_version);
  const results = await Promise.all([version(), big(1), version(), big(2), big(3), version()]);
  assert.deepEqual(results, [VERSION, '10485760:1', VERSION, '10485760:2', '10485760:3', VERSION]);
});

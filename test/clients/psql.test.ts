// psql (libpq) through vectorgate: what a person at a terminal does, from SELECT 1 to \copy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { startTarget, type ClientTarget } from '../helpers/client-target.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { waitForBackend } from '../helpers/activity.ts';
import { seeded, randomInt, type Random } from '../helpers/random.ts';
import { psql, lines } from './psql-runner.ts';

let target: ClientTarget;
let admin: pg.Client;
let scratch: string;

before(async () => {
  target = await startTarget();
  admin = await target.cluster.admin(DATABASE);
  scratch = mkdtempSync(join(tmpdir(), 'vectorgate-psql-'));
});
after(async () => {
  await admin?.end();
  await target?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const alice = { user: ROLES.scram.user, password: ROLES.scram.password };

test('psql: SELECT 1', async () => {
  assert.deepEqual(lines(await psql(target, alice, { commands: ['SELECT 1'] })), ['1']);
});

test('psql: SELECT vectorgate_version() answers the package version in a column of that name', async () => {
  assert.deepEqual(lines(await psql(target, alice, { commands: ['SELECT vectorgate_version()'] })), ['0.1.0']);
  // Aligned-off but with headers: the column name and the row count come from the RowDescription and
  // CommandComplete the proxy writes.
  const withHeader = await psql(target, alice, { flags: ['-X', '-v', 'ON_ERROR_STOP=1', '-A'], commands: ['SELECT vectorgate_version()'] });
  assert.deepEqual(lines(withHeader), ['vectorgate_version', '0.1.0', '(1 row)']);
});

test('psql: a multi-statement string returns every result in order', async () => {
  const result = await psql(target, alice, { commands: [`SELECT 1; SELECT 'two'; SELECT 3 AS three`] });
  assert.deepEqual(lines(result), ['1', 'two', '3']);
});

test('psql: a multi-statement string mixing vectorgate_version() with pass-through statements', async () => {
  const result = await psql(target, alice, { commands: [`SELECT 1; SELECT vectorgate_version(); SELECT 'three'`] });
  assert.deepEqual(lines(result), ['1', '0.1.0', 'three']);
});

test('psql: a failing multi-statement string is one implicit transaction, rolled back at the error', async () => {
  const result = await psql(target, alice, {
    commands: ['CREATE TABLE psql_atomic (x int); INSERT INTO psql_atomic VALUES (1); SELECT 1/0; INSERT INTO psql_atomic VALUES (2)'],
  });
  assert.equal(result.code, 1);
  assert.equal(result.stdout, 'CREATE TABLE\nINSERT 0 1\n');
  assert.match(result.stderr, /division by zero/);
  const { rows } = await admin.query(`SELECT to_regclass('psql_atomic') AS t`);
  assert.equal(rows[0].t, null, 'the CREATE TABLE before the error must be rolled back');
});

test('psql: vectorgate_version() inside a failing multi-statement string keeps it one implicit transaction', async () => {
  const result = await psql(target, alice, {
    commands: ['CREATE TABLE psql_atomic_mixed (x int); SELECT vectorgate_version(); SELECT 1/0'],
  });
  assert.equal(result.code, 1);
  assert.equal(result.stdout, 'CREATE TABLE\n0.1.0\n');
  assert.match(result.stderr, /division by zero/);
  const { rows } = await admin.query(`SELECT to_regclass('psql_atomic_mixed') AS t`);
  assert.equal(rows[0].t, null, 'the CREATE TABLE before the error must be rolled back');
});

test('psql: \\copy into a table and back out gives the same CSV', async () => {
  const csv = randomCsv(seeded(20240501), 500);
  const input = join(scratch, 'in.csv');
  const output = join(scratch, 'out.csv');
  writeFileSync(input, csv);
  const result = await psql(target, alice, {
    script: [
      'CREATE TABLE psql_copy (id int PRIMARY KEY, label text, amount bigint);',
      `\\copy psql_copy FROM '${input}' WITH (FORMAT csv)`,
      'SELECT count(*) FROM psql_copy;',
      `\\copy (SELECT id, label, amount FROM psql_copy ORDER BY id) TO '${output}' WITH (FORMAT csv)`,
    ].join('\n'),
  });
  assert.deepEqual(lines(result), ['CREATE TABLE', 'COPY 500', '500', 'COPY 500']);
  assert.equal(readFileSync(output, 'utf8'), csv);
});

test('psql: after an error the session continues when ON_ERROR_STOP is off', async () => {
  const result = await psql(target, alice, {
    flags: ['-X', '-At'],
    script: [
      'SELECT 1/0;',
      '\\echo :LAST_ERROR_SQLSTATE',
      `SELECT 'after the error';`,
      'BEGIN;',
      'SELECT 1/0;',
      'SELECT 1;',
      '\\echo :LAST_ERROR_SQLSTATE',
      'ROLLBACK;',
      `SELECT 'after the rollback';`,
    ].join('\n'),
  });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(lines(result), ['22012', 'after the error', 'BEGIN', '25P02', 'ROLLBACK', 'after the rollback']);
  assert.match(result.stderr, /division by zero/);
  assert.match(result.stderr, /current transaction is aborted/);
});

test('psql: ON_ERROR_STOP stops the script at the first error', async () => {
  const result = await psql(target, alice, { script: `SELECT 'before';\nSELECT 1/0;\nSELECT 'never';\n` });
  assert.equal(result.code, 3);
  assert.equal(result.stdout, 'before\n');
});

test('psql: a wrong password gets PostgreSQL\'s 28P01 message', async () => {
  const result = await psql(target, { user: ROLES.scram.user, password: 'not-the-password' }, { commands: ['SELECT 1'] });
  assert.equal(result.code, 2);
  assert.match(result.stderr, new RegExp(`password authentication failed for user "${ROLES.scram.user}"`));
});

test('psql: md5 role logs in, and a wrong md5 password is refused', async () => {
  assert.deepEqual(lines(await psql(target, ROLES.md5, { commands: ['SELECT current_user'] })), [ROLES.md5.user]);
  const wrong = await psql(target, { user: ROLES.md5.user, password: 'wrong' }, { commands: ['SELECT 1'] });
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, new RegExp(`password authentication failed for user "${ROLES.md5.user}"`));
});

test('psql: SCRAM with a non-ASCII password, normalised by libpq\'s SASLprep', async () => {
  assert.deepEqual(lines(await psql(target, ROLES.saslprep, { commands: ['SELECT current_user'] })), [ROLES.saslprep.user]);
  // SASLprep maps the soft hyphen to nothing, so the password without it is the same password.
  // Only a client that normalises can log in with it: evidence the exchange is SASLprep'd end to end.
  const equivalent = ROLES.saslprep.password.replace('\u00AD', '');
  assert.notEqual(equivalent, ROLES.saslprep.password);
  assert.deepEqual(lines(await psql(target, { user: ROLES.saslprep.user, password: equivalent }, { commands: ['SELECT current_user'] })), [ROLES.saslprep.user]);
});

test('psql: pg_backend_pid() and application_name match what another session sees in pg_stat_activity', async () => {
  const lockKey = 4242;
  const applicationName = 'vectorgate-psql-probe';
  // The administrator holds a lock the psql session then waits for, so the session is certainly
  // connected (and visible) while the administrator looks, without any sleeping.
  await admin.query('SELECT pg_advisory_lock($1)', [lockKey]);
  let running: ReturnType<typeof psql> | undefined;
  try {
    running = psql(target, { ...alice, conninfo: `application_name=${applicationName}` }, {
      commands: [
        `SELECT pg_advisory_lock(${lockKey})`,
        'SELECT pg_backend_pid()',
        'SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()',
      ],
    });
    const seen = await waitForBackend(admin, (row) => row.application_name === applicationName && row.wait_event_type === 'Lock');
    await admin.query('SELECT pg_advisory_unlock($1)', [lockKey]);
    assert.deepEqual(lines(await running), ['', String(seen.pid), applicationName]);
  } finally {
    await admin.query('SELECT pg_advisory_unlock_all()');
    await running;
  }
});

test('psql: the options startup parameter is honoured', async () => {
  const login = { ...alice, conninfo: `options='-c statement_timeout=4321 -c search_path=psql_schema,public'` };
  assert.deepEqual(lines(await psql(target, login, { commands: ['SHOW statement_timeout', 'SHOW search_path'] })), ['4321ms', 'psql_schema,public']);
  // The timeout is in force, not just reported: a sleep far longer than it is cancelled.
  const short = { ...alice, conninfo: `options='-c statement_timeout=100'` };
  const slept = await psql(target, short, { commands: ['SELECT pg_sleep(60)'] });
  assert.equal(slept.code, 1);
  assert.match(slept.stderr, /canceling statement due to statement timeout/);
});

/** CSV exactly as PostgreSQL's COPY TO writes it, so a round trip can be compared byte for byte. */
function randomCsv(random: Random, rows: number): string {
  const out: string[] = [];
  for (let id = 1; id <= rows; id++) {
    const label = randomInt(random, 10) === 0 ? null : randomLabel(random);
    const amount = randomInt(random, 10) === 0 ? '' : String(randomInt(random, 2_000_000) - 1_000_000);
    out.push(`${id},${label === null ? '' : csvField(label)},${amount}\n`);
  }
  return out.join('');
}

function randomLabel(random: Random): string {
  const alphabet = ['a', 'b', 'Z', ' ', ',', '"', '\n', 'é', '日', '-', '0'];
  const length = randomInt(random, 12);
  let label = '';
  for (let i = 0; i < length; i++) label += alphabet[randomInt(random, alphabet.length)];
  return label;
}

/** COPY quotes a value when it is empty (to tell it from NULL) or holds a comma, quote or line break. */
function csvField(value: string): string {
  return value === '' || /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

// psycopg 3 from Debian through vectorgate, driven by a Python program run once per file with
// Debian's own interpreter (the python3 on PATH may not have python3-psycopg); each test checks the
// lines of one section of its output.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startTarget, type ClientTarget } from '../helpers/client-target.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { runProcess, cleanEnv } from '../helpers/run-process.ts';
import { ProgramOutput } from './program-output.ts';

const PYTHON = '/usr/bin/python3';
const PROGRAM = fileURLToPath(new URL('./python/psycopg_client.py', import.meta.url));
const VERSION = '0.1.0';
const TEXT_OID = 25;

let target: ClientTarget;
let output: ProgramOutput;

before(async () => {
  target = await startTarget();
  const run = await runProcess(PYTHON, [PROGRAM, target.host, String(target.port), ROLES.scram.user, ROLES.scram.password, DATABASE], {
    env: cleanEnv(),
  });
  output = new ProgramOutput(run.stdout, run.stderr, run.code);
});
after(async () => {
  await target?.stop();
});

test('psycopg: the program ran every section without an error', () => {
  assert.deepEqual(output.errors(), []);
  assert.equal(output.code, 0, output.stderr);
});

test('psycopg: simple query and BackendKeyData pid', () => {
  assert.equal(output.get('simple.select1'), '1');
  assert.equal(output.get('simple.pid_matches'), 'True');
});

test('psycopg: vectorgate_version(), one text column named vectorgate_version', () => {
  assert.equal(output.get('simple.version'), VERSION);
  assert.equal(output.get('simple.version.column'), `1 vectorgate_version ${TEXT_OID}`);
});

test('psycopg: parameters of several types', () => {
  assert.equal(output.get('params.row'), `(42, 'ünïcødé ✓', None, b'\\x00\\x01\\xfe\\xff', Decimal('12.340'), datetime.date(2000, 2, 29), [3, 1, 2])`);
});

test('psycopg: statements prepared server-side after the threshold, local and pass-through', () => {
  assert.equal(output.get('prepared.doubled'), '2,4,6,8,10,12,14,16');
  assert.equal(output.get('prepared.server_prepared'), '1');
  assert.equal(output.get('prepared.version'), Array(9).fill(VERSION).join(','));
});

test('psycopg: pipeline mode mixing vectorgate_version() with pass-through statements', () => {
  assert.equal(output.get('pipeline.mixed.libpq_mode'), 'ON');
  assert.equal(output.get('pipeline.mixed.matches'), 'True');
  assert.equal(output.get('pipeline.mixed.versions'), '22', 'the seeded plan has 22 vectorgate_version() calls');
  assert.equal(output.get('pipeline.mixed.rows_inserted'), 'True');
});

test('psycopg: an error inside a pipeline aborts it up to the Sync, with its implicit transaction', () => {
  assert.equal(output.get('pipeline.error'), '22012');
  assert.equal(output.get('pipeline.error.rows'), '0');
  assert.equal(output.get('pipeline.error.recovered'), `22012 ${VERSION} 7`);
});

test('psycopg: binary cursor, parameters and results in binary format', () => {
  assert.equal(output.get('binary.row'),
    `(-123456, 9000000000123, 3.25, Decimal('12345.678900'), b'\\x00\\x01\\xfe\\xff', UUID('6f1c7b4e-2d6a-4c8e-9a57-3b1f0e2d4c6a'), datetime.datetime(2024, 2, 29, 13, 14, 15, 123456), [3, 1, 2], 'bïnary ✓')`);
  assert.equal(output.get('binary.formats'), '1,1,1,1,1,1,1,1,1');
});

test('psycopg: vectorgate_version() through a binary cursor comes back in binary format', () => {
  assert.equal(output.get('binary.version'), VERSION);
  assert.equal(output.get('binary.version.format'), '1');
});

test('psycopg: vectorgate_version() in transactions, and 25P02 in a failed one', () => {
  assert.equal(output.get('transaction.rows'), `${VERSION},before`);
  assert.equal(output.get('transaction.failed'), `22012 25P02 ${VERSION}`);
});

test('psycopg: conn.cancel() cancels pg_sleep with 57014', () => {
  assert.equal(output.get('cancel'), '57014');
  assert.equal(output.get('cancel.after'), 'usable');
});

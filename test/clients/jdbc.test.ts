// pgjdbc from Debian through vectorgate, driven by a single-file Java program run once per file;
// each test checks the lines of one section of its output.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startTarget, type ClientTarget } from '../helpers/client-target.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { runProcess } from '../helpers/run-process.ts';
import { ProgramOutput } from './program-output.ts';

const JDBC_JAR = '/usr/share/java/postgresql.jar';
const PROGRAM = fileURLToPath(new URL('./java/JdbcClient.java', import.meta.url));
const VERSION = '0.1.0';

let target: ClientTarget;
let output: ProgramOutput;

before(async () => {
  target = await startTarget();
  const url = `jdbc:postgresql://${target.host}:${target.port}/${DATABASE}?connectTimeout=20`;
  const run = await runProcess('java', ['-cp', JDBC_JAR, PROGRAM, url, ROLES.scram.user, ROLES.scram.password]);
  output = new ProgramOutput(run.stdout, run.stderr, run.code);
});
after(async () => {
  await target?.stop();
});

test('jdbc: the program ran every section without an error', () => {
  assert.deepEqual(output.errors(), []);
  assert.equal(output.code, 0, output.stderr);
});

test('jdbc: Statement SELECT 1 and BackendKeyData pid', () => {
  assert.equal(output.get('statement.select1'), '1');
  assert.equal(output.get('backend.pid.matches'), 'true');
});

test('jdbc: vectorgate_version() via Statement, one text column named vectorgate_version', () => {
  assert.equal(output.get('statement.version'), VERSION);
  assert.equal(output.get('statement.version.column'), '1 vectorgate_version text');
});

for (const mode of ['default', 'threshold1'] as const) {
  const how = mode === 'default' ? 'after the default prepareThreshold of 5' : 'with prepareThreshold=1';
  test(`jdbc: PreparedStatement run 8 times becomes a server-prepared statement ${how}`, () => {
    assert.equal(output.get(`prepared.${mode}.doubled`), '2,4,6,8,10,12,14,16');
    assert.equal(output.get(`prepared.${mode}.server_prepared`), '1');
  });

  test(`jdbc: vectorgate_version() via PreparedStatement run 8 times ${how}`, () => {
    assert.equal(output.get(`prepared.${mode}.version`), Array(8).fill(VERSION).join(','));
  });
}

test('jdbc: binary transfer of parameters and results', () => {
  const expected = '-123456|9000000000123|3.25|12345.678900|[0, 1, -2, -1]|6f1c7b4e-2d6a-4c8e-9a57-3b1f0e2d4c6a|2024-02-29 13:14:15.123456|1999-12-31|[3, 1, 2]|bïnary ✓';
  assert.equal(output.get('binary.run1'), expected);
  assert.equal(output.get('binary.run2'), expected);
});

test('jdbc: vectorgate_version() via PreparedStatement with binary transfer', () => {
  assert.equal(output.get('binary.version'), [VERSION, VERSION, VERSION].join(','));
});

test('jdbc: addBatch/executeBatch, prepared and plain', () => {
  assert.equal(output.get('batch.prepared'), '50x1');
  assert.equal(output.get('batch.statement'), '[25, 10, 1]');
  assert.equal(output.get('batch.rows'), '41 920 20');
});

test('jdbc: a batch failing in the middle reports 23505 and keeps none of its rows', () => {
  assert.equal(output.get('batch.error'), '23505');
  assert.equal(output.get('batch.error.rows'), '0');
});

test('jdbc: vectorgate_version() inside a transaction that commits, then one that rolls back', () => {
  assert.equal(output.get('transaction.statement_version'), VERSION);
  assert.equal(output.get('transaction.rows'), `${VERSION},before`);
});

test('jdbc: vectorgate_version() inside a failed transaction gets 25P02', () => {
  assert.equal(output.get('failed.transaction'), `22012 25P02 25P02 ${VERSION}`);
});

test('jdbc: Statement.cancel() cancels pg_sleep with 57014', () => {
  assert.equal(output.get('cancel'), '57014');
  assert.equal(output.get('cancel.after'), 'usable');
});

// pgjdbc through vectorgate: PreparedStatement with the vector as a String, as setArray(float4[]) and as
// setObject(float[]), with and without binaryTransfer; result metadata; SQLSTATEs; SET/SHOW/RESET.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { runProcess } from '../helpers/run-process.ts';
import { ProgramOutput } from '../clients/program-output.ts';

const JDBC_JAR = '/usr/share/java/postgresql.jar';
const PROGRAM = fileURLToPath(new URL('./java/VectorClient.java', import.meta.url));

let stack: Stack;
let output: ProgramOutput;

before(async () => {
  stack = await startStack();
  const url = `jdbc:postgresql://${stack.proxyHost}:${stack.proxyPort}/${DATABASE}?connectTimeout=20`;
  const run = await runProcess('java', ['-cp', JDBC_JAR, PROGRAM, url, ROLES.scram.user, ROLES.scram.password]);
  output = new ProgramOutput(run.stdout, run.stderr, run.code);
});
after(async () => {
  await stack?.stop();
});

test('jdbc: every section ran without an error', () => {
  assert.deepEqual(output.errors(), []);
  assert.equal(output.code, 0, output.stderr);
  assert.equal(output.get('setup.done'), 'true');
});

for (const mode of ['text', 'binary'] as const) {
  test(`jdbc (${mode}): setString vector, repeated until server-prepared`, () => {
    assert.equal(output.get(`${mode}.string`), Array(3).fill('b:0.0:{"n":2},a:1.4142135:{"n":1}').join('|'));
  });

  test(`jdbc (${mode}): setArray(float4[]) and setObject(float[]) vectors, setLong k, jsonb filter`, () => {
    const filtered = 'a:0.0:{"n":1},b:1.4142135:{"n":2}';
    assert.equal(output.get(`${mode}.array`), [filtered, filtered, filtered, 'c:0.0:null'].join('|'));
  });

  test(`jdbc (${mode}): upsert with a float4[] parameter, vector_get returns real[] as Float[]`, () => {
    assert.equal(output.get(`${mode}.upsert`), [0, 1, 2].map((i) => `${mode}${i}:[0.5, 0.25, ${i}.0]:{"mode":"${mode}"}`).join('|'));
  });

  test(`jdbc (${mode}): result and parameter metadata from Describe`, () => {
    assert.equal(output.get(`${mode}.metadata`), 'id text,distance float4,payload jsonb');
    assert.equal(output.get(`${mode}.parameters`), 'text,_float4,int4');
  });
}

test('jdbc: SQLSTATEs of bad input, the connection going on after each', () => {
  assert.equal(output.get('errors'), '22P02,22000,42P01,42710,54000,22023');
});

test('jdbc: SET / SHOW / RESET vectorgate.ef_search', () => {
  assert.equal(output.get('settings.show'), 'vectorgate.ef_search=48');
  assert.equal(output.get('settings.reset'), '64');
});

// pgjdbc PreparedStatement running vector_search joined with a table, the vector bound with setString,
// the table filter with setBoolean and the LIMIT with setInt: executed with new parameters until pgjdbc
// switches to a server-prepared statement (threshold 5), and named from the start (prepareThreshold=1).
// Every execution equals the two-step answer; Describe gives the row and parameter types.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { randomInt } from '../helpers/random.ts';
import { runProcess } from '../helpers/run-process.ts';
import { ProgramOutput } from '../clients/program-output.ts';
import { startFixture, searchAlone, joinDocs, randomVector, vectorText, type Fixture } from './fixture.ts';

const JDBC_JAR = '/usr/share/java/postgresql.jar';
const PROGRAM = fileURLToPath(new URL('./java/ComposeClient.java', import.meta.url));

let fx: Fixture;
let output: ProgramOutput;
/** Per execution: the expected rows as [id, title, distance]. */
let expected: [string, string, number][][];

before(async () => {
  fx = await startFixture(4003);
  const executions = Array.from({ length: 8 }, (_, i) => ({ vector: randomVector(fx.random), published: i % 3 !== 0, limit: 2 + randomInt(fx.random, 8) }));
  expected = [];
  for (const e of executions) {
    const pairs = joinDocs(fx, await searchAlone(fx, 'docs', e.vector, 30), (d) => d.published === e.published).slice(0, e.limit);
    expected.push(pairs.map(({ hit, doc }) => [doc.id, doc.title, hit.distance]));
  }
  const url = `jdbc:postgresql://${fx.stack.proxyHost}:${fx.stack.proxyPort}/${DATABASE}?connectTimeout=20`;
  const input = executions.map((e) => `${vectorText(e.vector)};${e.published};${e.limit}\n`).join('');
  const run = await runProcess('java', ['-cp', JDBC_JAR, PROGRAM, url, ROLES.scram.user, ROLES.scram.password], { input });
  output = new ProgramOutput(run.stdout, run.stderr, run.code);
});
after(async () => {
  await fx?.stop();
});

/** Parses `id:title:distance,…|…`; distances compared as float4, whatever digits Java printed. */
function parseRuns(text: string): [string, string, number][][] {
  return text.split('|').map((run) => run === '' ? [] : run.split(',').map((row) => {
    const [id, title, distance] = row.split(':') as [string, string, string];
    return [id, title, Math.fround(Number(distance))];
  }));
}

const asFloat4 = (runs: [string, string, number][][]) => runs.map((rows) => rows.map(([id, title, d]) => [id, title, Math.fround(d)]));

test('jdbc: every section ran without an error', () => {
  assert.deepEqual(output.errors(), []);
  assert.equal(output.code, 0, output.stderr);
});

test('jdbc: setString vector + setBoolean filter + setInt limit, 8 executions crossing prepareThreshold=5', () => {
  assert.ok(expected.every((rows) => rows.length > 0), 'the seed gives rows in every execution');
  assert.deepEqual(parseRuns(output.get('default')), asFloat4(expected));
});

test('jdbc: the same with prepareThreshold=1 (named server-prepared from the first execution)', () => {
  assert.deepEqual(parseRuns(output.get('threshold1')), asFloat4(expected));
});

test('jdbc: ResultSetMetaData and ParameterMetaData of the composed statement', () => {
  assert.equal(output.get('metadata.columns'), 'id text,title text,distance float4');
  assert.equal(output.get('metadata.executed'), 'id text,title text,distance float4');
  // The vector parameter's type is the proxy's; the other two are what PostgreSQL inferred for the rest.
  assert.equal(output.get('metadata.parameters'), '_float4,bool,int8');
});

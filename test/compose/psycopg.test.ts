// psycopg 3 running vector_search joined with a table: %s parameters over the extended protocol (past
// its prepare threshold, so server-prepared too), a binary LIMIT parameter, binary results, and the
// same executions in conn.pipeline() with an INSERT … SELECT from a search. All equal the two-step answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { randomInt } from '../helpers/random.ts';
import { runProcess, cleanEnv } from '../helpers/run-process.ts';
import { ProgramOutput } from '../clients/program-output.ts';
import { startFixture, searchAlone, joinDocs, randomVector, vectorText, type Fixture, type Hit } from './fixture.ts';

const PYTHON = '/usr/bin/python3';
const PROGRAM = fileURLToPath(new URL('./python/compose_client.py', import.meta.url));

let fx: Fixture;
let output: ProgramOutput;
let expected: [string, number][][];
let firstSeven: Hit[];

before(async () => {
  fx = await startFixture(4004);
  const executions = Array.from({ length: 7 }, (_, i) => ({ vector: randomVector(fx.random), published: i % 2 === 0, limit: 2 + randomInt(fx.random, 6) }));
  expected = [];
  for (const e of executions) {
    const pairs = joinDocs(fx, await searchAlone(fx, 'docs', e.vector, 30), (d) => d.published === e.published).slice(0, e.limit);
    expected.push(pairs.map(({ hit }) => [hit.id, Math.fround(hit.distance)]));
  }
  firstSeven = await searchAlone(fx, 'docs', executions[0]!.vector, 7);
  const input = JSON.stringify({ executions: executions.map((e) => ({ ...e, vector: vectorText(e.vector) })) });
  const run = await runProcess(PYTHON, [PROGRAM, fx.stack.proxyHost, String(fx.stack.proxyPort), ROLES.scram.user, ROLES.scram.password, DATABASE], {
    env: cleanEnv(),
    input,
  });
  output = new ProgramOutput(run.stdout, run.stderr, run.code);
});
after(async () => {
  await fx?.stop();
});

/** `id:distance,…|…` as printed by Python (repr of a float), distances compared as float4. */
function parseRuns(text: string): [string, number][][] {
  return text.split('|').map((run) => run === '' ? [] : run.split(',').map((row) => {
    const [id, distance] = row.split(':') as [string, string];
    return [id, Math.fround(Number(distance))];
  }));
}

test('psycopg: the program ran every section without an error', () => {
  assert.deepEqual(output.errors(), []);
  assert.equal(output.code, 0, output.stderr);
});

test('psycopg: %s parameters over the extended protocol, past the prepare threshold and with prepare=True', () => {
  assert.deepEqual(parseRuns(output.get('extended')), expected);
  assert.deepEqual(parseRuns(output.get('extended.prepared')), expected);
  assert.equal(output.get('extended.description'), 'id:25,distance:700');
});

test('psycopg: a binary LIMIT parameter and binary results', () => {
  assert.deepEqual(parseRuns(output.get('extended.binary_limit')), expected);
  assert.deepEqual(parseRuns(output.get('extended.binary_results')), expected);
});

test('psycopg: the executions and an INSERT … SELECT from a search in conn.pipeline()', () => {
  assert.deepEqual(parseRuns(output.get('pipeline')), expected);
  assert.equal(output.get('pipeline.inserted'), '7');
  assert.equal(output.get('pipeline.plain'), '42');
  assert.deepEqual(parseRuns(output.get('pipeline.stored')), [firstSeven.map((h) => [h.id, Math.fround(h.distance)])]);
});

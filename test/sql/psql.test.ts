// The vector SQL surface through psql, as a user types it: one script run with ON_ERROR_STOP, then bad
// statements one by one (each must fail with its SQLSTATE, shown by VERBOSITY verbose, and psql goes on).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, type Stack } from '../helpers/stack.ts';
import type { ClientTarget } from '../helpers/client-target.ts';
import { readFileSync } from 'node:fs';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { LOCAL_FUNCTIONS } from '../../src/sql/functions/registry.ts';
import { psql, lines } from '../clients/psql-runner.ts';

let stack: Stack;
/** The proxy as psql-runner's target; stopping stays with this file's after(). */
const target = (): ClientTarget => ({ kind: 'vectorgate', host: stack.proxyHost, port: stack.proxyPort, cluster: stack.cluster, stop: async () => {} });

before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.stop();
});

test('psql: the whole surface in one script', async () => {
  const out = lines(await psql(target(), ROLES.scram, {
    script: [
      `SELECT vector_create_collection('docs', 3, metric => 'cosine', shards => 2, quantization => 'f16') AS created;`,
      `SELECT vector_upsert('docs', 'doc-1', '[1, 0, 0]', '{"lang":"en"}');`,
      `SELECT vector_upsert('docs', '[{"id":"doc-2","vector":[0,1,0],"payload":{"lang":"de"}},{"id":"doc-3","vector":[1,1,0]}]'::jsonb);`,
      `SELECT id, distance FROM vector_search('docs', '[1,0.1,0]', 3);`,
      `SELECT * FROM vector_search('docs', '[1,0.1,0]', k => 5, filter => '{"lang":"de"}');`,
      `SELECT * FROM vector_get('docs', 'doc-1');`,
      `SELECT vector_delete('docs', 'doc-3');`,
      `SELECT name, dimensions, metric, shards, quantization, vectors FROM vector_collections();`,
      `SELECT vector_set_policy('docs', 'ef_search', 100);`,
      `SET vectorgate.ef_search = 20;`,
      `SHOW vectorgate.ef_search;`,
      `SELECT policy, value, source FROM vector_policies('docs') AS p (policy, value, source) ;`,
      `RESET vectorgate.ef_search;`,
      `SELECT vector_drop_collection('docs');`,
    ].join('\n'),
  }));
  assert.deepEqual(out, [
    '{"name":"docs","dimensions":3,"metric":"cosine","shards":2,"replicas":1,"quantization":"f16","m":16,"ef_construction":200,"engine":"usearch"}',
    '1',
    '2',
    'doc-1|0.004962802',
    'doc-3|0.22604269',
    'doc-2|0.9004963',
    'doc-2|0.9004963|{"lang":"de"}',
    'doc-1|{1,0,0}|{"lang":"en"}',
    '1',
    'docs|3|cosine|2|f16|2',
    '100',
    'SET',
    '20',
    'ef_search|20|session',
    'rescore|on|default',
    'oversample|auto|default',
    'read_consistency|eventual|default', 'max_staleness_ms|1000|default', 'rerank|off|default',
    'reranker|bm25|default', 'rerank_top_n|50|default', 'rerank_timeout_ms|100|default', 'rerank_field|text|default', 'reranker_url||default',
    'rerank_notice|off|default', 'search_cache|auto|default',
    'max_k|10000|default', 'statement_timeout|0|default',
    'RESET',
    't',
  ]);
});

const BAD: [string, string][] = [
  ['22P02', `SELECT * FROM vector_search('items', '[1,x,3]', 3);`],
  ['22000', `SELECT vector_upsert('items', 'z', '[1,2]');`],
  ['22000', `SELECT vector_upsert('items', 'z', '{1,NaN,3}');`],
  ['42P01', `SELECT * FROM vector_get('missing', 'a');`],
  ['42710', `SELECT vector_create_collection('items', 3);`],
  ['54000', `SELECT * FROM vector_search('items', '[1,2,3]', 1000000);`],
  ['22023', `SELECT vector_set_policy('items', 'colour', 'red');`],
  ['42704', `SET vectorgate.colour = 1;`],
  ['22023', `SET vectorgate.ef_search = -1;`],
  ['0A000', `SELECT vector_search('items', '[1,2,3]', 3);`],
];

test('psql: each bad statement fails with its SQLSTATE and the session goes on', async () => {
  lines(await psql(target(), ROLES.scram, { commands: [`SELECT vector_create_collection('items', 3)`] }));
  const script = ['\\set VERBOSITY verbose', ...BAD.flatMap(([, sql]) => [sql, `SELECT 'alive';`])].join('\n');
  const run = await psql(target(), ROLES.scram, { flags: ['-X', '-At'], script });
  const codes = [...run.stderr.matchAll(/ERROR:\s+([0-9A-Z]{5}):/g)].map((m) => m[1]);
  assert.deepEqual(codes, BAD.map(([code]) => code), run.stderr + run.stdout);
  assert.deepEqual(run.stdout.trim().split('\n'), BAD.map(() => 'alive'));
});

test('sql/vectorgate.sql installs upstream with the same signatures the proxy answers', async () => {
  const admin = await stack.cluster.admin(DATABASE);
  try {
    await admin.query(readFileSync(new URL('../../sql/vectorgate.sql', import.meta.url), 'utf8'));
    const installed = await admin.query(`SELECT proname, proargnames, proargmodes::text[] AS proargmodes FROM pg_proc WHERE proname LIKE 'vector%' AND proname <> 'vectorgate_not_proxied'`);
    const declared = installed.rows.map((r) => {
      const names: string[] = r.proargnames ?? [];
      const modes: string[] = r.proargmodes ?? names.map(() => 'i');
      return `${r.proname}(${names.filter((_, i) => modes[i] === 'i').join(',')})`;
    }).sort();
    const answered = [...LOCAL_FUNCTIONS.values()].flatMap((fn) => fn.overloads.map((o) => `${fn.name}(${o.params.map((p) => p.name).join(',')})`)).sort();
    assert.deepEqual(declared, answered);
  } finally {
    await admin.end();
  }
  // Through the proxy the calls are still answered by vectorgate, not by the installed stubs.
  assert.deepEqual(lines(await psql(target(), ROLES.scram, { commands: ['SELECT count(*) FROM vector_collections()'] })), ['1']);
});

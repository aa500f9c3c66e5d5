// hnswlib-node is an optional dependency (node-gyp compiles it). This builds dist/ (as `npm install`
// does) and runs `vectorgate start` from a copy of the project whose node_modules lacks it, as an
// install on a machine without a compiler ends up: usearch collections work, and asking for engine
// 'hnswlib' gets 0A000 naming the package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { REPO, startVectorgate, stopLeftoverPostgres, stopVectorgate, type Started } from './vectorgate-process.ts';

const MISSING = 'hnswlib-node';

/** The project's sources beside a node_modules of links to every installed package but one. */
function copyWithout(missing: string): string {
  const root = mkdtempSync(join(tmpdir(), 'vectorgate-no-hnswlib-'));
  chmodSync(root, 0o755);
  for (const entry of ['bin', 'scripts', 'src', 'sql', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) cpSync(join(REPO, entry), join(root, entry), { recursive: true });
  mkdirSync(join(root, 'node_modules'));
  for (const name of readdirSync(join(REPO, 'node_modules'))) {
    if (name !== missing) symlinkSync(join(REPO, 'node_modules', name), join(root, 'node_modules', name));
  }
  return root;
}

async function sqlState(client: pg.Client, sql: string): Promise<{ code?: string; message: string; hint?: string }> {
  try {
    await client.query(sql);
  } catch (err) {
    return err as { code?: string; message: string; hint?: string };
  }
  throw new Error(`expected an error from ${sql}`);
}

test('without hnswlib-node installed: dist/ builds, usearch works, engine hnswlib is refused with 0A000 naming the package', async () => {
  const root = copyWithout(MISSING);
  let started: Started | undefined;
  let client: pg.Client | undefined;
  try {
    const build = spawnSync(process.execPath, ['scripts/build.js'], { cwd: root, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm install's build without ${MISSING}:\n${build.stdout}${build.stderr}`);
    assert.ok(existsSync(join(root, 'dist', 'cli', 'main.js')));
    started = await startVectorgate(['--data-dir', join(root, 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--log-level', 'info'], { cwd: root }, root);
    assert.match(started.output(), /"code":"dist"/, 'the compiled build runs');
    client = new pg.Client({ connectionString: started.url });
    await client.connect();

    const refused = await sqlState(client, `SELECT vector_create_collection('h', 3, engine => 'hnswlib')`);
    assert.equal(refused.code, '0A000');
    assert.match(refused.message, /engine "hnswlib" needs the optional package hnswlib-node, which is not installed/);
    assert.match(refused.hint ?? '', /npm install hnswlib-node/);

    await client.query(`SELECT vector_create_collection('u', 3)`);
    await client.query(`SELECT vector_upsert('u', 'a', '[1,0,0]')`);
    await client.query(`SELECT vector_upsert('u', 'b', '[0,1,0]')`);
    const hits = await client.query(`SELECT id FROM vector_search('u', '[0.9,0.1,0]', 2)`);
    assert.deepEqual(hits.rows.map((r: { id: string }) => r.id), ['a', 'b']);
    const names = await client.query(`SELECT name FROM vector_collections()`);
    assert.deepEqual(names.rows, [{ name: 'u' }], 'the refused collection left nothing behind');
    await client.end();
    client = undefined;
    assert.equal(await stopVectorgate(started.child), 0, started.output());
  } finally {
    await client?.end().catch(() => undefined);
    if (started) started.child.kill('SIGKILL');
    await stopLeftoverPostgres(join(root, 'data', 'pg'));
    rmSync(root, { recursive: true, force: true });
  }
});

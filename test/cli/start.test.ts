// `vectorgate start`, the embedded default, as a user runs it: PostgreSQL in <data-dir>/pg, proxy,
// psql connects; SIGTERM stops everything; after SIGKILL the next start comes up on the same data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../src/cli/postgres-server.ts';
import { psql, startDataDir, startVectorgate } from './vectorgate-process.ts';

const { dataDir, children } = startDataDir('vectorgate-start-');

async function start(port: number): Promise<{ child: ChildProcess; url: string }> {
  const started = await startVectorgate(['--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--metrics-listen', '127.0.0.1:0', '--log-level', 'warn'], {});
  children.push(started.child);
  return started;
}

test('start, connect with psql, SIGKILL, start again, SIGTERM', async () => {
  const port = await freePort();
  const first = await start(port);
  assert.equal(await psql(first.url, 'SELECT 1'), '1');
  assert.equal(await psql(first.url, 'SELECT vectorgate_version()'), '0.1.0');
  await psql(first.url, 'CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)');
  const described = await psql(first.url, `SELECT count(*) FROM pg_proc WHERE proname IN ('vector_search', 'vector_upsert', 'vector_create_collection')`);
  assert.ok(Number(described) >= 3, 'sql/vectorgate.sql is installed, so \\df vector_* sees the surface');
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));

  const second = await start(port);
  assert.equal(second.url, first.url, 'same role, password and database');
  assert.equal(await psql(second.url, 'SELECT n FROM kept'), '42', 'data kept across restarts');
  const exited = new Promise<number | null>((r) => second.child.once('exit', (code) => r(code)));
  second.child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.equal(existsSync(join(dataDir, 'pg', 'postmaster.pid')), false, 'PostgreSQL was stopped cleanly');

  const third = await start(0);
  assert.doesNotMatch(third.url, /:0\//, '--listen host:0 prints the port it bound');
  assert.equal(await psql(third.url, 'SELECT n FROM kept'), '42');
  const stopped = new Promise<number | null>((r) => third.child.once('exit', (code) => r(code)));
  third.child.kill('SIGTERM');
  assert.equal(await stopped, 0);
});

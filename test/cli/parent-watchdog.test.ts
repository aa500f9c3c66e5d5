// A vectorgate process started with VECTORGATE_PARENT_PID ends itself once that process is gone, as
// the workers and proxies that `vectorgate cluster` and the tests start do when their parent is
// killed: here a worker waiting for an etcd that is not there outlives its "parent" (a sleep) only briefly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/cli/postgres-server.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'vectorgate.js');

test('a worker whose parent process is gone shuts itself down', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vectorgate-watchdog-'));
  const parent = spawn('sleep', ['2'], { stdio: 'ignore' });
  const worker = spawn(process.execPath, [BIN, 'worker', '--etcd', `http://127.0.0.1:${await freePort()}`, '--listen', `127.0.0.1:${await freePort()}`, '--data-dir', dir], {
    env: { ...process.env, VECTORGATE_PARENT_PID: String(parent.pid), VECTORGATE_LOG_LEVEL: 'silent' }, stdio: 'ignore',
  });
  try {
    const parentExit = new Promise<number>((resolve) => parent.once('exit', () => resolve(Date.now())));
    const workerExit = new Promise<{ at: number; code: number | null }>((resolve) => worker.once('exit', (code) => resolve({ at: Date.now(), code })));
    const [parentAt, exited] = await Promise.all([parentExit, workerExit]);
    assert.ok(exited.at >= parentAt, 'the worker ran until its parent was gone');
    assert.equal(exited.code, 0, 'and then shut down cleanly');
  } finally {
    worker.kill('SIGKILL');
    parent.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

// `npm start` from a clone in a directory only its owner may enter (mode 0700, as root's home is).
// As root, PostgreSQL runs as an unprivileged OS user that cannot reach that directory, so its data is
// placed where that user can reach it (and <data-dir>/pg.location says where); as an ordinary user,
// PostgreSQL runs as that user inside the 0700 directory. Either way psql connects and sees the surface.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { psql, REPO, startVectorgate, stopLeftoverPostgres, stopVectorgate, VERSION, type Started } from './vectorgate-process.ts';

const isRoot = process.getuid?.() === 0;
const START_ARGS = ['--data-dir', 'data', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--log-level', 'warn'];

interface Account { uid: number; gid: number; home: string; remove: () => void }

/** A throwaway OS user with its own 0700 home when we are root; else ourselves in a fresh 0700 directory. */
function ordinaryAccount(): Account {
  if (!isRoot) {
    const home = mkdtempSync(join(tmpdir(), 'vectorgate-home-'));
    return { uid: process.getuid!(), gid: process.getgid!(), home, remove: () => rmSync(home, { recursive: true, force: true }) };
  }
  const name = `vgfirst${process.pid}`;
  const home = join(tmpdir(), `vectorgate-home-${name}`);
  const made = spawnSync('useradd', ['--create-home', '--home-dir', home, '--shell', '/bin/sh', name], { encoding: 'utf8' });
  assert.equal(made.status, 0, `useradd: ${made.stderr}`);
  chmodSync(home, 0o700);
  const id = (flag: string) => Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout.trim());
  return {
    uid: id('-u'), gid: id('-g'), home,
    remove: () => {
      spawnSync('userdel', ['--force', '--remove', name]);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** As root, with the relocation directory out of reach too: one message naming the fix, no cluster made. */
function refusedWhenNothingIsReachable(home: string): void {
  const unreachable = join(home, 'private', 'pg');
  const run = spawnSync(process.execPath, [join(REPO, 'bin', 'vectorgate.js'), 'start', ...START_ARGS], {
    cwd: home, encoding: 'utf8', timeout: 120_000, env: { ...process.env, VECTORGATE_RELOCATED_POSTGRES_DIR: unreachable },
  });
  assert.equal(run.status, 1, run.stdout);
  assert.match(run.stderr, /PostgreSQL runs as OS user \w+, which can reach neither .* nor .*: set VECTORGATE_RELOCATED_POSTGRES_DIR/);
  assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.equal(existsSync(join(home, 'data', 'pg')), false, 'no cluster was made');
  assert.equal(existsSync(join(home, 'data', 'pg.location')), false);
  assert.equal(existsSync(unreachable), false);
}

async function connectsAndStops(started: Started): Promise<void> {
  assert.equal(await psql(started.url, 'SELECT vectorgate_version()'), VERSION);
  assert.equal(await psql(started.url, `SELECT count(*) FROM vector_collections()`), '0');
  assert.equal(await stopVectorgate(started.child), 0, started.output());
}

test('as the current user, from a 0700 directory with the default relative --data-dir', async () => {
  const home = mkdtempSync(join(tmpdir(), 'vectorgate-0700-'));
  const relocated = mkdtempSync(join(tmpdir(), 'vectorgate-relocated-'));
  chmodSync(relocated, 0o755);
  const env = { ...process.env, VECTORGATE_RELOCATED_POSTGRES_DIR: relocated };
  const pointer = join(home, 'data', 'pg.location');
  const pgDataDir = () => (existsSync(pointer) ? readFileSync(pointer, 'utf8').trim() : join(home, 'data', 'pg'));
  let started: Started | undefined;
  try {
    assert.equal(statSync(home).mode & 0o777, 0o700);
    if (isRoot) refusedWhenNothingIsReachable(home);
    started = await startVectorgate(START_ARGS, { cwd: home, env });
    if (isRoot) {
      assert.ok(pgDataDir().startsWith(relocated + '/'), `PostgreSQL's data is relocated, named by ${pointer}`);
    } else {
      assert.equal(pgDataDir(), join(home, 'data', 'pg'), 'as an ordinary user the data stays in place');
    }
    assert.ok(existsSync(join(pgDataDir(), 'PG_VERSION')));
    assert.equal(statSync(home).mode & 0o777, 0o700, 'the directory was not opened up to others');
    await connectsAndStops(started);
    started = await startVectorgate(START_ARGS, { cwd: home, env });
    await connectsAndStops(started);
    if (isRoot) {
      rmSync(relocated, { recursive: true });
      started = await startVectorgate(START_ARGS, { cwd: home, env });
      assert.ok(existsSync(join(pgDataDir(), 'PG_VERSION')), 'a removed relocation directory is made again, reachable');
      await connectsAndStops(started);
    }
  } finally {
    if (started) started.child.kill('SIGKILL');
    await stopLeftoverPostgres(pgDataDir());
    rmSync(home, { recursive: true, force: true });
    rmSync(relocated, { recursive: true, force: true });
  }
});

test('as an ordinary (non-root) user, from its own 0700 home', async () => {
  const account = ordinaryAccount();
  let started: Started | undefined;
  try {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: account.home, LANG: 'C.UTF-8' };
    started = await startVectorgate(START_ARGS, { cwd: account.home, uid: account.uid, gid: account.gid, env });
    assert.ok(existsSync(join(account.home, 'data', 'pg', 'PG_VERSION')), 'PostgreSQL runs as that user, in place');
    await connectsAndStops(started);
  } finally {
    if (started) started.child.kill('SIGKILL');
    await stopLeftoverPostgres(join(account.home, 'data', 'pg'));
    account.remove();
  }
});

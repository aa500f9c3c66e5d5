// node-postgres through vectorgate: what happens to a session from outside it — cancel, terminate,
// and logins that succeed or fail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { startTarget, type ClientTarget } from '../helpers/client-target.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { waitForActiveQuery } from '../helpers/activity.ts';
import { sendCancelRequest } from '../helpers/raw-client.ts';
import { connectPg, backendKey, rejection } from './pg-connect.ts';

let target: ClientTarget;
let admin: pg.Client;

before(async () => {
  target = await startTarget();
  admin = await target.cluster.admin(DATABASE);
});
after(async () => {
  await admin?.end();
  await target?.stop();
});

test('node-pg: a CancelRequest sent to the proxy cancels pg_sleep with 57014', async () => {
  const victim = await connectPg(target);
  try {
    const { processID, secretKey } = backendKey(victim);
    const sleeping = rejection(victim.query('SELECT pg_sleep(30)'));
    // Cancelling before the statement runs would cancel nothing; wait until PostgreSQL runs it.
    await waitForActiveQuery(admin, processID, 'pg_sleep');
    await sendCancelRequest(target.host, target.port, processID, secretKey);
    const error = await sleeping;
    assert.equal(error.code, '57014');
    assert.match(error.message, /canceling statement due to user request/);
    assert.equal((await victim.query('SELECT 1 AS still')).rows[0].still, 1);
  } finally {
    await victim.end();
  }
});

test('node-pg: a CancelRequest cancels only its own session', async () => {
  const victim = await connectPg(target);
  const bystander = await connectPg(target);
  try {
    const victimKey = backendKey(victim);
    const bystanderKey = backendKey(bystander);
    assert.notEqual(victimKey.processID, bystanderKey.processID);
    const victimSleep = rejection(victim.query('SELECT pg_sleep(30)'));
    // The bystander waits on a lock the administrator holds, so it is surely still running after the
    // victim's cancel has been handled; then the lock is released and it must finish normally.
    await admin.query('SELECT pg_advisory_lock(77)');
    const bystanderWait = bystander.query('SELECT pg_advisory_lock(77), 1 AS done');
    try {
      await waitForActiveQuery(admin, victimKey.processID, 'pg_sleep');
      await waitForActiveQuery(admin, bystanderKey.processID, 'pg_advisory_lock');
      await sendCancelRequest(target.host, target.port, victimKey.processID, victimKey.secretKey);
      assert.equal((await victimSleep).code, '57014');
    } finally {
      await admin.query('SELECT pg_advisory_unlock(77)');
    }
    assert.equal((await bystanderWait).rows[0].done, 1);
  } finally {
    await victim.end();
    await bystander.end();
  }
});

test('node-pg: pg_terminate_backend from another session ends a running query with FATAL 57P01', async () => {
  const victim = await connectPg(target);
  // node-postgres also reports the closed connection as an 'error' event, which must have a listener.
  victim.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => victim.once('end', () => resolve()));
  const killer = await connectPg(target);
  try {
    const pid = backendKey(victim).processID;
    const sleeping = rejection(victim.query('SELECT pg_sleep(30)'));
    await waitForActiveQuery(admin, pid, 'pg_sleep');
    assert.equal((await killer.query('SELECT pg_terminate_backend($1) AS done', [pid])).rows[0].done, true);
    const error = await sleeping;
    assert.equal(error.code, '57P01');
    assert.equal(error.severity, 'FATAL');
    assert.match(error.message, /terminating connection due to administrator command/);
    await ended;
    // The proxy is unharmed: the other session and a new one work.
    assert.equal((await killer.query('SELECT 1 AS ok')).rows[0].ok, 1);
    const fresh = await connectPg(target);
    await fresh.end();
  } finally {
    await killer.end();
    await victim.end().catch(() => undefined);
  }
});

test('node-pg: pg_terminate_backend on an idle session delivers FATAL 57P01 unprompted', async () => {
  const victim = await connectPg(target);
  // node-postgres reports the FATAL, then the closed connection: both arrive as 'error' events.
  const errors: (Error & { code?: string; severity?: string })[] = [];
  victim.on('error', (err) => errors.push(err));
  const ended = new Promise<void>((resolve) => victim.once('end', () => resolve()));
  const killer = await connectPg(target);
  try {
    await killer.query('SELECT pg_terminate_backend($1)', [backendKey(victim).processID]);
    await ended;
    assert.equal(errors[0]?.code, '57P01', `errors: ${errors.map((e) => e.message).join('; ')}`);
    assert.equal(errors[0]?.severity, 'FATAL');
  } finally {
    await killer.end();
    await victim.end().catch(() => undefined);
  }
});

test('node-pg: a wrong SCRAM password gets 28P01 from PostgreSQL', async () => {
  const error = await rejection(connectPg(target, { password: 'not-the-password' }));
  assert.equal(error.code, '28P01');
  assert.equal(error.severity, 'FATAL');
  assert.equal(error.message, `password authentication failed for user "${ROLES.scram.user}"`);
});

test('node-pg: md5 role logs in; a wrong md5 password gets 28P01', async () => {
  const bob = await connectPg(target, { user: ROLES.md5.user, password: ROLES.md5.password });
  try {
    assert.equal((await bob.query('SELECT current_user AS u')).rows[0].u, ROLES.md5.user);
  } finally {
    await bob.end();
  }
  const error = await rejection(connectPg(target, { user: ROLES.md5.user, password: 'wrong' }));
  assert.equal(error.code, '28P01');
});

test('node-pg: SCRAM with a non-ASCII password that SASLprep normalises', async () => {
  const carol = await connectPg(target, { user: ROLES.saslprep.user, password: ROLES.saslprep.password });
  try {
    assert.equal((await carol.query('SELECT current_user AS u')).rows[0].u, ROLES.saslprep.user);
  } finally {
    await carol.end();
  }
});

test('node-pg: a database that does not exist gets PostgreSQL\'s FATAL 3D000', async () => {
  const error = await rejection(connectPg(target, { database: 'no_such_database' }));
  assert.equal(error.code, '3D000');
  assert.equal(error.severity, 'FATAL');
});

test('node-pg: startup parameters reach PostgreSQL as sent', async () => {
  const client = await connectPg(target, {
    application_name: 'vectorgate-node-pg',
    statement_timeout: 6543,
    options: '-c work_mem=7777kB',
  });
  try {
    const { rows } = await client.query(
      `SELECT current_setting('application_name') AS app, current_setting('statement_timeout') AS timeout, current_setting('work_mem') AS mem`,
    );
    assert.deepEqual(rows, [{ app: 'vectorgate-node-pg', timeout: '6543ms', mem: '7777kB' }]);
  } finally {
    await client.end();
  }
});

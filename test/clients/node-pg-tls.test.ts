// node-postgres with TLS to vectorgate, verified against a certificate made at test time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type pg from 'pg';
import { startTarget, type ClientTarget } from '../helpers/client-target.ts';
import { ROLES } from '../helpers/cluster.ts';
import { connectPg, rejection } from './pg-connect.ts';

let target: ClientTarget;
let ca: Buffer;

before(async () => {
  target = await startTarget({ tls: true });
  ca = readFileSync(target.tls!.caFile);
});
after(async () => {
  await target?.stop();
});

function socketOf(client: pg.Client): TLSSocket {
  return (client as unknown as { connection: { stream: TLSSocket } }).connection.stream;
}

test('node-pg TLS: verified connection, queries with parameters', async () => {
  const client = await connectPg(target, { ssl: { ca } });
  try {
    const socket = socketOf(client);
    assert.equal(socket.encrypted, true);
    assert.equal(socket.authorized, true, String(socket.authorizationError));
    const { rows } = await client.query('SELECT $1::text AS echoed, current_user AS u', ['over tls ✓']);
    assert.deepEqual(rows, [{ echoed: 'over tls ✓', u: ROLES.scram.user }]);
  } finally {
    await client.end();
  }
});

test('node-pg TLS: vectorgate_version()', async () => {
  const client = await connectPg(target, { ssl: { ca } });
  try {
    assert.equal((await client.query('SELECT vectorgate_version()')).rows[0].vectorgate_version, '0.1.0');
  } finally {
    await client.end();
  }
});

test('node-pg TLS: SCRAM logs in with channel binding enabled on the client', async () => {
  // Through a TLS-terminating proxy the client must not be offered SCRAM-SHA-256-PLUS, whose binding
  // to the client's TLS channel PostgreSQL could never verify; plain SCRAM-SHA-256 must work.
  const client = await connectPg(target, { ssl: { ca }, enableChannelBinding: true });
  try {
    assert.equal((await client.query('SELECT current_user AS u')).rows[0].u, ROLES.scram.user);
  } finally {
    await client.end();
  }
});

test('node-pg TLS: md5 role over TLS', async () => {
  const client = await connectPg(target, { ssl: { ca }, user: ROLES.md5.user, password: ROLES.md5.password });
  try {
    assert.equal((await client.query('SELECT current_user AS u')).rows[0].u, ROLES.md5.user);
  } finally {
    await client.end();
  }
});

test('node-pg TLS: a wrong password over TLS gets 28P01', async () => {
  const error = await rejection(connectPg(target, { ssl: { ca }, password: 'wrong' }));
  assert.equal(error.code, '28P01');
});

test('node-pg TLS: without the test CA the self-signed certificate is refused', async () => {
  const error = await rejection(connectPg(target, { ssl: { rejectUnauthorized: true } }));
  assert.match(error.message, /self[- ]signed certificate/);
});

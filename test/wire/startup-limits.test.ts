// Connections that never finish startup must not lock real users out: per-address and total limits on
// connections still in startup (the last slots are kept for authenticated sessions), and a short
// deadline for sockets that send nothing. Clients come from several loopback addresses (127.0.0.x).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, Socket } from 'node:net';
import pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';

const LIMITS = { maxConnections: 10, reservedAuthenticatedConnections: 2, maxStartupPerAddress: 3, startupSilenceTimeoutMs: 300, startupTimeoutMs: 120_000 };

let stack: Stack;
const opened: Socket[] = [];
before(async () => { stack = await startStack({ config: LIMITS }); });
after(async () => {
  for (const socket of opened) socket.destroy();
  await stack?.stop();
});

interface Probe { socket: Socket; received: Buffer[]; closed: Promise<void> }

/** A raw connection from `localAddress`; with `firstByte`, it sends one byte of a startup packet and stalls. */
async function open(localAddress: string, firstByte: boolean): Promise<Probe> {
  const before = stack.proxy.sessions.size;
  const socket = connect({ host: '127.0.0.1', port: stack.proxyPort, localAddress });
  opened.push(socket);
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  if (firstByte) socket.write(Buffer.from([0]));
  // Admission counts sessions; wait until the proxy has taken this one in (or refused it).
  while (stack.proxy.sessions.size === before && received.length === 0 && socket.readyState === 'open') await new Promise((r) => setImmediate(r));
  return { socket, received, closed };
}

/** A pg client whose connection comes from `localAddress`. */
function clientFrom(localAddress: string): pg.Client {
  // pg calls stream.connect(port, host); the socket adds the local address to bind.
  const stream = () => {
    const socket = new Socket();
    const plainConnect = socket.connect.bind(socket) as (options: { port: number; host: string; localAddress: string }) => Socket;
    return Object.assign(socket, { connect: (port: number, host: string) => plainConnect({ port, host, localAddress }) });
  };
  return new pg.Client({
    host: '127.0.0.1', port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE,
    stream,
  } as pg.ClientConfig);
}

async function refusal(probe: Probe): Promise<string> {
  await probe.closed;
  const reply = Buffer.concat(probe.received).toString('latin1');
  assert.equal(reply[0], 'E', 'an ErrorResponse');
  return /C([0-9A-Z]{5})\0/.exec(reply)?.[1] ?? 'no SQLSTATE';
}

async function query(client: pg.Client): Promise<number> {
  return (await client.query('SELECT 41 + 1 AS x')).rows[0].x;
}

test('stalled logins from one address, then from many, leave room for others and for authenticated sessions', async () => {
  const stalled: Probe[] = [];
  for (let i = 0; i < LIMITS.maxStartupPerAddress; i++) stalled.push(await open('127.0.0.1', true));
  assert.equal(await refusal(await open('127.0.0.1', true)), '53300', 'one address is held to maxStartupPerAddress');

  const real = clientFrom('127.0.0.2');
  await real.connect();
  try {
    assert.equal(await query(real), 42, 'another address still gets in');
    for (const address of ['127.0.0.3', '127.0.0.3', '127.0.0.3', '127.0.0.4', '127.0.0.4']) stalled.push(await open(address, true));
    const startupSlots = LIMITS.maxConnections - LIMITS.reservedAuthenticatedConnections;
    assert.equal(stalled.length, startupSlots);
    assert.equal(await refusal(await open('127.0.0.5', true)), '53300', 'logins in progress may not take the reserved slots');
    assert.ok(stack.proxy.sessions.size < LIMITS.maxConnections, 'the reserved slots stay free');
    assert.equal(await query(real), 42, 'the authenticated session goes on');
    for (const probe of stalled) assert.equal(probe.socket.readyState, 'open', 'stalled logins keep their long deadline');
  } finally {
    await real.end();
    for (const probe of stalled) probe.socket.destroy();
    await Promise.all(stalled.map((p) => p.closed));
  }
});

test('silent sockets are closed without an answer at the silence deadline; then logins work', { timeout: 60_000 }, async () => {
  while (stack.proxy.sessions.size > 0) await new Promise((r) => setImmediate(r));
  const silent: Probe[] = [];
  for (const address of ['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.6']) silent.push(await open(address, false));
  const talking = await open('127.0.0.7', true);
  await Promise.all(silent.map((p) => p.closed));
  for (const probe of silent) assert.deepEqual(probe.received, [], 'closed without a word, as PostgreSQL at authentication_timeout');
  assert.equal(talking.socket.readyState, 'open', 'a socket that has started its startup packet is not silent');
  talking.socket.destroy();
  const client = clientFrom('127.0.0.1');
  await client.connect();
  try {
    assert.equal(await query(client), 42);
  } finally {
    await client.end();
  }
});

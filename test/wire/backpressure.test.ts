// A client that sends statements and never reads their results holds a bounded number of bytes in the
// proxy: past maxClientBacklogBytes unread, the session stops reading from that client and from its
// upstream (as PostgreSQL stops reading while its send buffer is full), local results stream in
// chunks, other sessions keep answering, and the bytes are returned when the client leaves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { WireClient, serialize, type Message } from '../helpers/wire-client.ts';
import { seeded } from '../helpers/random.ts';

const BACKLOG_BYTES = 256 * 1024;
const INBOX_BYTES = 256 * 1024;
const CHUNK_BYTES = 64 * 1024;
/**
 * The most one session may hold: unread responses up to the backlog limit plus the piece that crossed
 * it (a spilled chunk of a local result, one upstream read), client messages queued behind a local
 * statement up to their limit plus the read that crossed it, and local responses held until Sync.
 */
const SESSION_BOUND_BYTES = BACKLOG_BYTES + INBOX_BYTES + 4 * CHUNK_BYTES;
const ROWS = 10_000;
const DIMS = 8;
const PAYLOAD_TEXT_BYTES = 2000;

let stack: Stack;

function vectorOf(random: () => number): number[] {
  return Array.from({ length: DIMS }, () => Math.round(random() * 1000) / 1000);
}

function payloadOf(n: number): { n: number; text: string } {
  return { n, text: String(n % 10).repeat(PAYLOAD_TEXT_BYTES) };
}

before(async () => {
  stack = await startStack({ config: { maxClientBacklogBytes: BACKLOG_BYTES, maxHeldClientBytes: INBOX_BYTES, maxHeldResponseBytes: CHUNK_BYTES } });
  await stack.app.createCollection({ name: 'docs', dims: DIMS, metric: 'l2', owner: ROLES.trust.user });
  const random = seeded(8);
  for (let start = 0; start < ROWS; start += 1000) {
    const rows = Array.from({ length: 1000 }, (_, i) => ({ id: `doc-${start + i}`, vector: vectorOf(random), payload: payloadOf(start + i) }));
    await stack.app.upsert('docs', rows);
  }
});
after(async () => { await stack?.stop(); });

async function metricValue(name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = stack.proxy.metrics.registry.getSingleMetric(name);
  assert.ok(metric, `${name} is exported`);
  const { values } = await metric.get();
  const value = values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}

const heldMax = () => metricValue('vectorgate_client_buffered_bytes_max');
const heldTotal = () => metricValue('vectorgate_client_buffered_bytes');

/**
 * Samples the largest session's bytes until the proxy has stopped sending: the same value ten samples
 * in a row, with at least the backlog limit unread (so backpressure, not a slow search, is what
 * stopped it). Returns the peak seen on the way.
 */
async function peakUntilStalled(): Promise<number> {
  let peak = 0;
  let last = -1;
  let same = 0;
  for (let sample = 0; sample < 600; sample++) {
    const now = await heldMax();
    peak = Math.max(peak, now);
    same = now === last ? same + 1 : 0;
    last = now;
    if (same >= 10 && now >= BACKLOG_BYTES) return peak;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the session never stalled under backpressure; peak ${peak} bytes, last ${last}`);
}

function pgClient(): pg.Client {
  return new pg.Client({ host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
}

/** Another session answers pass-through and local statements while the abusive one is stalled. */
async function othersStillAnswer(): Promise<void> {
  const other = pgClient();
  await other.connect();
  try {
    assert.deepEqual((await other.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    const hits = await other.query(`SELECT id FROM vector_search('docs', $1, 3)`, [vectorOf(seeded(1))]);
    assert.equal(hits.rowCount, 3);
  } finally {
    await other.end();
  }
}

/** After the client is gone its session is removed and nothing is held for it any more. */
async function releasedAfter(client: WireClient): Promise<void> {
  client.socket.destroy();
  for (let i = 0; i < 200 && stack.proxy.sessions.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(stack.proxy.sessions.size, 0, 'the session ended with its client');
  assert.equal(await heldTotal(), 0);
}

async function neverReadingClient(): Promise<WireClient> {
  const client = await WireClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE);
  client.socket.pause();
  return client;
}

test('a client that never reads its local search results holds at most the configured bytes', async () => {
  const client = await neverReadingClient();
  try {
    const query = serialize.query(`SELECT * FROM vector_search('docs', '${JSON.stringify(vectorOf(seeded(2)))}', 500)`);
    const searches = 60; // 60 × ~1 MB of results if nothing held the proxy back
    client.send(...Array.from({ length: searches }, () => query));
    const peak = await peakUntilStalled();
    assert.ok(peak <= SESSION_BOUND_BYTES, `session held ${peak} bytes, limit ${SESSION_BOUND_BYTES}`);
    assert.ok(await metricValue('vectorgate_statements_total', { route: 'local' }) < searches, 'the proxy stopped reading searches');
    assert.equal(client.closed, false, 'backpressure pauses the session, it does not end it');
    await othersStillAnswer();
  } finally {
    await releasedAfter(client);
  }
});

test('a client that never reads pass-through results holds at most the configured bytes', async () => {
  const client = await neverReadingClient();
  try {
    // 40 MB of results, far more than loopback's socket buffers take in: unless the proxy stops reading
    // the upstream while the client is full, they pile up in the proxy.
    client.send(...Array.from({ length: 400 }, () => serialize.query(`SELECT repeat('x', 100000)`)));
    const peak = await peakUntilStalled();
    assert.ok(peak <= SESSION_BOUND_BYTES, `session held ${peak} bytes, limit ${SESSION_BOUND_BYTES}`);
    assert.equal(client.closed, false);
    await othersStillAnswer();
  } finally {
    await releasedAfter(client);
  }
});

function checkHits(ids: string[], distances: number[], payloads: unknown[]): void {
  assert.equal(ids.length, ROWS);
  assert.equal(new Set(ids).size, ROWS, 'every row once');
  for (let i = 1; i < distances.length; i++) assert.ok(distances[i - 1]! <= distances[i]!, 'nearest first');
  ids.forEach((id, i) => assert.deepEqual(payloads[i], payloadOf(Number(id.slice('doc-'.length)))));
}

test('a k = 10,000 search with 2 KB payloads streams: bounded while unread, complete once read', async () => {
  const client = await neverReadingClient();
  try {
    client.send(serialize.query(`SELECT id, distance, payload FROM vector_search('docs', '${JSON.stringify(vectorOf(seeded(3)))}', ${ROWS})`));
    const peak = await peakUntilStalled();
    assert.ok(peak <= SESSION_BOUND_BYTES, `a ~20 MB result held ${peak} bytes, limit ${SESSION_BOUND_BYTES}`);
    client.socket.resume();
    const messages: Message[] = await client.readUntilReady(120_000);
    const rows = messages.filter((m) => m.name === 'dataRow').map((m) => m.fields as string[]);
    checkHits(rows.map((r) => r[0]!), rows.map((r) => Number(r[1])), rows.map((r) => JSON.parse(r[2]!)));
    assert.deepEqual(messages.filter((m) => m.name === 'commandComplete').map((m) => m.text), [`SELECT ${ROWS}`]);
  } finally {
    await releasedAfter(client);
  }
});

test('node-pg receives a k = 10,000 search with 2 KB payloads complete and correct', async () => {
  const client = pgClient();
  await client.connect();
  try {
    const result = await client.query('SELECT id, distance, payload FROM vector_search($1, $2, $3)', ['docs', vectorOf(seeded(4)), ROWS]);
    checkHits(result.rows.map((r) => r.id), result.rows.map((r) => r.distance), result.rows.map((r) => r.payload));
  } finally {
    await client.end();
  }
});

test('a client that reads none of its backlog for clientBacklogTimeoutMs is disconnected, freeing its session', async () => {
  const own = await startStack({ config: { maxClientBacklogBytes: BACKLOG_BYTES, clientBacklogTimeoutMs: 1000 } });
  const client = await WireClient.connect(own.proxyPort, ROLES.trust.user, DATABASE);
  try {
    client.socket.pause();
    client.send(...Array.from({ length: 100 }, () => serialize.query(`SELECT repeat('x', 100000)`)));
    for (let i = 0; i < 600 && own.proxy.sessions.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(own.proxy.sessions.size, 0, 'the session was ended');
    const buffered = own.proxy.metrics.registry.getSingleMetric('vectorgate_client_buffered_bytes')!;
    assert.equal((await buffered.get()).values[0]!.value, 0);
  } finally {
    client.socket.destroy();
    await own.stop();
  }
});

test('a flood of tiny statements from a client that never reads awaits at most maxPendingResponses answers', async () => {
  const maxPending = 1000;
  const own = await startStack({ config: { maxClientBacklogBytes: BACKLOG_BYTES, maxPendingResponses: maxPending } });
  const client = await WireClient.connect(own.proxyPort, ROLES.trust.user, DATABASE);
  try {
    client.socket.pause();
    const query = serialize.query('SELECT 1');
    client.socket.write(Buffer.concat(Array.from({ length: 300_000 }, () => query))); // 4 MB of statements, each awaiting an answer
    const session = [...own.proxy.sessions][0]!;
    let peak = 0;
    let last = -1;
    for (let same = 0; same < 10; await new Promise((resolve) => setTimeout(resolve, 100))) {
      const now = session.upstream?.pendingResponses ?? 0;
      peak = Math.max(peak, now);
      same = now === last && now > 0 ? same + 1 : 0;
      last = now;
    }
    // The limit stops reading; what the reads already under way bring (64 kB each) still goes up.
    const bound = maxPending + 2 * Math.ceil(CHUNK_BYTES / query.length);
    assert.ok(peak <= bound, `${peak} answers awaited at once, limit ${bound}`);
  } finally {
    client.socket.destroy();
    await own.stop();
  }
});

// No injection, whatever the client_encoding: hostile ids and payloads (quotes, backslashes, a
// `'); DROP TABLE victim; --`, non-ASCII text, characters whose last byte is 0x5C in SJIS/BIG5/GBK)
// are stored by vector_upsert and read back by composed statements joining vector_search and
// vector_get with a table (and by the two alone, answered by the proxy), in each client encoding, in the simple and the extended protocol, from a
// session with backslash_quote = on. Statement text and parameters are sent as bytes in the session's
// encoding (a raw client), results are decoded from it: every value must come back exactly, and the
// victim table must survive. Ids stored by a UTF-8 session whose UTF-8 bytes end in a lead byte of
// these encodings are read back by each session too: exactly, or PostgreSQL's own 22P05 when the
// encoding cannot show them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import iconv from 'iconv-lite';
import { startStack, type Stack } from '../helpers/stack.ts';
import { DATABASE, ROLES } from '../helpers/cluster.ts';
import { EncodedClient, type Reply } from '../helpers/encoded-client.ts';

interface Encoding {
  /** PostgreSQL's name. */
  pg: string;
  /** iconv-lite's name, to encode what the client sends and decode what it gets. */
  iconv: string;
  /** Non-ASCII text of this encoding; in SJIS, BIG5 and GBK each character's second byte is 0x5C. */
  text: string;
}

const ENCODINGS: Encoding[] = [
  { pg: 'UTF8', iconv: 'utf8', text: 'ソ表é€' },
  { pg: 'SJIS', iconv: 'shiftjis', text: 'ソ表十' },
  { pg: 'BIG5', iconv: 'big5', text: '許功' },
  { pg: 'GBK', iconv: 'gbk', text: '乗俓' },
  { pg: 'EUC_JP', iconv: 'eucjp', text: 'ソ表' },
  { pg: 'LATIN1', iconv: 'latin1', text: 'éÿ' },
  { pg: 'WIN1252', iconv: 'win1252', text: '€œé' },
];

const PROTOCOLS = ['simple', 'extended'] as const;
type Protocol = (typeof PROTOCOLS)[number];

const DROP = "'); DROP TABLE victim; --";

function hostileIds(text: string): string[] {
  const last = text[text.length - 1]!;
  return [text, `${last}${DROP}`, `q'uote\\${DROP}`, `back\\slash${last}`, `${last}\\`, DROP];
}

const payloadOf = (id: string, text: string) => ({ note: id, t: `${text}\\"'` });

/**
 * Stored by a UTF-8 session: 'Ã' is C3 83 in UTF-8, and 0x83 is a lead byte in SJIS, BIG5 and GBK.
 * The second would close the quoted literal it was once deparsed into (CAST(E'…' AS text)) if that
 * were sent as UTF-8 to an SJIS session (83 5C is one character there, so the backslash after it
 * escapes the quote), and completes that statement so the DROP after it runs in the simple protocol.
 */
const TRAP_IDS = ['Ã', "Ã\\' AS text), NULL, NULL)) AS s(id, distance, payload); DROP TABLE victim; --", `Ã${DROP}`, `Ã\\${DROP}`, 'Ã\\'];

let stack: Stack;

before(async () => {
  stack = await startStack();
  const admin = await stack.cluster.admin(DATABASE);
  try {
    await admin.query('CREATE TABLE victim (x int)');
    await admin.query('CREATE TABLE marks (coll text, id text, PRIMARY KEY (coll, id))');
    await admin.query(`ALTER TABLE victim OWNER TO ${ROLES.trust.user}`);
    await admin.query(`ALTER TABLE marks OWNER TO ${ROLES.trust.user}`);
    const marks: [string, string][] = TRAP_IDS.map((id, i) => [`trap_${i}`, id]);
    for (const e of ENCODINGS) for (const p of PROTOCOLS) for (const id of hostileIds(e.text)) marks.push([collectionOf(e, p), id]);
    for (const e of ENCODINGS) for (const f of COPY_FORMATS) for (const id of hostileIds(e.text)) marks.push([copyCollectionOf(e, f), id]);
    await admin.query('INSERT INTO marks SELECT * FROM unnest($1::text[], $2::text[])', [marks.map((m) => m[0]), marks.map((m) => m[1])]);
  } finally {
    await admin.end();
  }
  // One collection per id, so that each id is the first value of its composed statement.
  for (const [i, id] of TRAP_IDS.entries()) {
    await stack.app.createCollection({ name: `trap_${i}`, dims: 2, metric: 'l2', shards: 1, owner: ROLES.trust.user });
    await stack.app.upsert(`trap_${i}`, [{ id, vector: [i, 1], payload: { note: id } }]);
  }
});

after(async () => {
  await stack?.stop();
});

function collectionOf(e: Encoding, protocol: Protocol): string {
  return `c_${e.pg.toLowerCase()}_${protocol}`;
}

const COPY_FORMATS = ['text', 'csv', 'binary'] as const;
type CopyFormat = (typeof COPY_FORMATS)[number];

function copyCollectionOf(e: Encoding, format: CopyFormat): string {
  return `k_${e.pg.toLowerCase()}_${format}`;
}

/** COPY data for `rows` (id, vector text, payload text) in `format`, each text encoded by `encode`. */
function copyData(format: CopyFormat, rows: [string, string, string][], encode: (s: string) => Buffer): Buffer {
  if (format === 'text') return encode(rows.map((r) => r.map((f) => f.replace(/\\/g, '\\\\')).join('\t')).join('\n') + '\n');
  if (format === 'csv') return encode(rows.map((r) => r.map((f) => `"${f.replace(/"/g, '""')}"`).join(',')).join('\n') + '\n');
  const parts: Buffer[] = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)];
  for (const [id, vector, payload] of rows) {
    const dims = JSON.parse(vector) as number[];
    const vectorBytes = Buffer.alloc(4 + dims.length * 4);
    vectorBytes.writeUInt16BE(dims.length, 0);
    dims.forEach((x, i) => vectorBytes.writeFloatBE(x, 4 + i * 4));
    // jsonb's binary form is a version byte (1) and the text.
    const fields = [encode(id), vectorBytes, Buffer.concat([Buffer.from([1]), encode(payload)])];
    const count = Buffer.alloc(2);
    count.writeInt16BE(fields.length);
    parts.push(count);
    for (const field of fields) {
      const length = Buffer.alloc(4);
      length.writeInt32BE(field.length);
      parts.push(length, field);
    }
  }
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1);
  return Buffer.concat([...parts, trailer]);
}

/** Cuts `data` into 3-byte pieces, so multibyte characters are split between CopyData messages. */
function chunks(data: Buffer): Buffer[] {
  return Array.from({ length: Math.ceil(data.length / 3) }, (_, i) => data.subarray(i * 3, i * 3 + 3));
}

/** A standard string literal: quotes doubled, backslashes as they are (standard_conforming_strings). */
const literal = (s: string): string => `'${s.replace(/'/g, "''")}'`;

async function victimExists(): Promise<boolean> {
  const admin = await stack.cluster.admin(DATABASE);
  try {
    return (await admin.query("SELECT to_regclass('public.victim') IS NOT NULL AS here")).rows[0].here as boolean;
  } finally {
    await admin.end();
  }
}

class Session {
  constructor(readonly client: EncodedClient, readonly e: Encoding, readonly protocol: Protocol) {}

  static async open(e: Encoding, protocol: Protocol): Promise<Session> {
    // The simple-protocol sessions choose the encoding in the StartupMessage, the extended ones by SET.
    const options: Record<string, string> = protocol === 'simple' ? { client_encoding: e.pg } : {};
    const client = await EncodedClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE, options);
    const session = new Session(client, e, protocol);
    if (protocol === 'extended') session.ok(await client.query(Buffer.from(`SET client_encoding = '${e.pg}'`)));
    session.ok(await client.query(Buffer.from('SET backslash_quote = on')));
    return session;
  }

  encode(s: string): Buffer {
    return iconv.encode(s, this.e.iconv);
  }

  decode(b: Buffer | null): string | null {
    return b === null ? null : iconv.decode(b, this.e.iconv);
  }

  ok(reply: Reply): Reply {
    assert.equal(reply.error, null, `${this.e.pg}/${this.protocol}: ${reply.error?.code} ${reply.error?.message}`);
    return reply;
  }

  /** Runs `sql` with `params` as parameters (extended), or with them inlined as literals (simple). */
  run(sql: string, params: string[]): Promise<Reply> {
    if (this.protocol === 'extended') return this.client.extended(this.encode(sql), params.map((p) => this.encode(p)));
    const inlined = sql.replace(/\$(\d+)/g, (_, n: string) => literal(params[Number(n) - 1]!));
    return this.client.query(this.encode(inlined));
  }

  rows(reply: Reply): { id: string; payload: unknown }[] {
    return reply.rows.map((r) => ({ id: this.decode(r[0]!)!, payload: JSON.parse(this.decode(r[1]!)!) as unknown }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

const SEARCH_SQL = `SELECT s.id, s.payload::text FROM vector_search($1, '[0,0]', 50) AS s
  JOIN marks m ON m.id = s.id AND m.coll = $1`;
// `m.id = $2` puts the id in the statement PostgreSQL runs: as a literal of the client's own text in
// the simple protocol (deparsed, then encoded back in the session's encoding), as a parameter in the
// extended one.
const GET_SQL = 'SELECT g.id, g.payload::text FROM vector_get($1, $2) AS g JOIN marks m ON m.id = g.id AND m.coll = $1 AND m.id = $2';

// The same, answered by the proxy alone: its rows must be in the session's encoding too.
const LOCAL_SEARCH_SQL = "SELECT id, payload FROM vector_search($1, '[0,0]', 50)";
const LOCAL_GET_SQL = 'SELECT id, payload FROM vector_get($1, $2)';

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

for (const e of ENCODINGS) {
  for (const protocol of PROTOCOLS) {
    test(`${e.pg}, ${protocol} protocol: hostile ids and payloads round-trip through upsert, composed and local search and get`, async (t) => {
      const coll = collectionOf(e, protocol);
      await stack.app.createCollection({ name: coll, dims: 2, metric: 'l2', shards: 2, owner: ROLES.trust.user });
      const session = await Session.open(e, protocol);
      try {
        const ids = hostileIds(e.text);
        for (const [i, id] of ids.entries()) {
          const reply = session.ok(await session.run('SELECT vector_upsert($1, $2, $3, $4)', [coll, id, `[${i},1]`, JSON.stringify(payloadOf(id, e.text))]));
          assert.equal(reply.rows.length, 1);
        }
        const expected = ids.map((id) => ({ id, payload: payloadOf(id, e.text) })).sort(byId);
        assert.deepEqual(session.rows(session.ok(await session.run(SEARCH_SQL, [coll]))), expected);
        for (const id of ids) {
          assert.deepEqual(session.rows(session.ok(await session.run(GET_SQL, [coll, id]))), [{ id, payload: payloadOf(id, e.text) }]);
        }
        assert.deepEqual(session.rows(session.ok(await session.run(LOCAL_SEARCH_SQL, [coll]))), expected);
        for (const id of ids) {
          assert.deepEqual(session.rows(session.ok(await session.run(LOCAL_GET_SQL, [coll, id]))), [{ id, payload: payloadOf(id, e.text) }]);
        }
        t.diagnostic(`${e.pg} ${protocol}: ${ids.length} hostile ids and payloads round-trip`);
      } finally {
        await session.client.close();
      }
      assert.equal(await victimExists(), true, 'the victim table survives');
    });
  }
}

for (const e of ENCODINGS) {
  for (const protocol of PROTOCOLS) {
    test(`${e.pg}, ${protocol} protocol: ids stored by a UTF-8 session ending in a lead byte inject nothing`, async (t) => {
      const session = await Session.open(e, protocol);
      try {
        const replies: Reply[] = [];
        for (const i of TRAP_IDS.keys()) replies.push(await session.run(SEARCH_SQL, [`trap_${i}`]), await session.run(LOCAL_SEARCH_SQL, [`trap_${i}`]));
        assert.equal(await victimExists(), true, 'the victim table survives');
        for (const [i, reply] of replies.entries()) {
          const id = TRAP_IDS[Math.floor(i / 2)]!;
          if (reply.error === null) assert.deepEqual(session.rows(reply), [{ id, payload: { note: id } }]);
          else assert.equal(reply.error.code, '22P05', `${JSON.stringify(id)}: ${reply.error.code} ${reply.error.message}`);
        }
        // The proxy's own answer fails exactly where PostgreSQL's does.
        for (let i = 0; i < replies.length; i += 2) assert.equal(replies[i + 1]!.error?.code, replies[i]!.error?.code);
        const outcomes = new Set(replies.map((r) => (r.error === null ? 'exact' : '22P05 (no such character in the encoding)')));
        t.diagnostic(`${e.pg} ${protocol}: UTF-8 ids ending in 0x83: ${[...outcomes].join(', ')}`);
      } finally {
        await session.client.close();
      }
      assert.equal(await victimExists(), true, 'the victim table survives');
    });
  }
}

for (const e of ENCODINGS) {
  test(`${e.pg}: COPY in text, csv and binary (CopyData cut mid-character) stores hostile ids and payloads exactly`, async () => {
    const session = await Session.open(e, 'simple');
    try {
      const ids = hostileIds(e.text);
      for (const format of COPY_FORMATS) {
        const coll = copyCollectionOf(e, format);
        await stack.app.createCollection({ name: coll, dims: 2, metric: 'l2', shards: 2, owner: ROLES.trust.user });
        const rows = ids.map((id, i): [string, string, string] => [id, `[${i},1]`, JSON.stringify(payloadOf(id, e.text))]);
        const data = copyData(format, rows, (s) => session.encode(s));
        const done = session.ok(await session.client.copyIn(Buffer.from(`COPY ${coll} (id, vector, payload) FROM STDIN WITH (FORMAT ${format})`), chunks(data)));
        assert.deepEqual(done.tags, [`COPY ${ids.length}`], format);
        const expected = ids.map((id) => ({ id, payload: payloadOf(id, e.text) })).sort(byId);
        assert.deepEqual(session.rows(session.ok(await session.run(SEARCH_SQL, [coll]))), expected, format);
        const stored = await stack.app.search(coll, [0, 0], 50);
        assert.deepEqual(stored.map((h) => h.id).sort(), [...ids].sort(), `${format}, read as UTF-8`);
      }
    } finally {
      await session.client.close();
    }
    assert.equal(await victimExists(), true, 'the victim table survives');
  });
}

test('the ids and payloads stored by each session are the same characters for a UTF-8 reader', async () => {
  for (const e of ENCODINGS) {
    const hits = await stack.app.search(collectionOf(e, 'simple'), [0, 0], 50);
    assert.deepEqual(hits.map((h) => h.id).sort(), [...hostileIds(e.text)].sort(), e.pg);
  }
});

test('an encoding the proxy cannot read (EUC_TW): PostgreSQL statements pass through, local ones are 0A000', async () => {
  const client = await EncodedClient.connect(stack.proxyPort, ROLES.trust.user, DATABASE, { client_encoding: 'EUC_TW' });
  try {
    const passThrough = await client.query(Buffer.from("SELECT 'vector_search' AS word, current_setting('client_encoding') AS enc"));
    assert.equal(passThrough.error, null);
    assert.deepEqual(passThrough.rows.map((r) => r.map((f) => f!.toString('latin1'))), [['vector_search', 'EUC_TW']]);
    for (const sql of ["SELECT * FROM vector_get('trap_0', 'x')", "SELECT 1; SELECT vector_upsert('trap_0', 'x', '[1,1]')"]) {
      const refused = await client.query(Buffer.from(sql));
      assert.equal(refused.error?.code, '0A000', sql);
      assert.match(refused.error!.message, /client_encoding "EUC_TW"/);
    }
    assert.equal((await client.extended(Buffer.from("SELECT * FROM vector_get('trap_0', $1)"), [Buffer.from('x')])).error?.code, '0A000');
  } finally {
    await client.close();
  }
});

// What only the etcd log has to get right: several writers, atomic multi-shard appends, limits,
// etcd failing mid-write, lost answers, and a tail that heals every gap. Real etcd members on loopback.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../src/cli/postgres-server.ts';
import { EtcdMembers } from '../../src/cluster/etcd-members.ts';
import { DEFAULTS } from '../../src/config.ts';
import { SqlState, VectorgateError } from '../../src/errors.ts';
import { createEtcdClient, type EtcdConnection } from '../../src/storage/etcd-client.ts';
import { EtcdLogWriter, EtcdShardLog, type EtcdLogSettings } from '../../src/storage/etcd-log.ts';
import { encodeBody } from '../../src/storage/record-codec.ts';
import { startCuttableRelay, type CuttableRelay } from '../helpers/cuttable-relay.ts';
import { randomInt, seeded, type Random } from '../helpers/random.ts';
import { body, collect, idOf, until } from './shard-log-contract.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-etcd-log-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

const settings: EtcdLogSettings = { ...DEFAULTS, etcdPrefix: '/t/', etcdCallTimeoutMs: 3_000, etcdWriteTimeoutMs: 8_000, etcdTailCheckMs: 200 };
const connect = (endpoints: string[], s: EtcdLogSettings = settings): EtcdConnection =>
  createEtcdClient({ endpoints, maxReceiveBytes: s.etcdMaxReceiveBytes, callTimeoutMs: s.etcdCallTimeoutMs });
const hasCode = (code: string, message?: RegExp) => (err: unknown) =>
  err instanceof VectorgateError && err.code === code && (message === undefined || message.test(err.message));
const portOf = (url: string) => Number(new URL(url).port);
const namedBody = (id: string) => encodeBody(2, [{ op: 'upsert', id, vector: Float32Array.of(1, 2), payload: null }]);

/** Runs `use` with fresh etcd members and closes every client it opened and the members, also on failure. */
async function withEtcd(count: number, use: (members: EtcdMembers, connectTo: (endpoints: string[], s?: EtcdLogSettings) => EtcdConnection) => Promise<void>): Promise<void> {
  const members = await EtcdMembers.start({ count, dir: join(root, `etcd-${dirs++}`) });
  const conns: EtcdConnection[] = [];
  try {
    await use(members, (endpoints, s) => { const c = connect(endpoints, s); conns.push(c); return c; });
  } finally {
    for (const c of conns) c.client.close();
    await members.stop();
  }
}

async function readAll(conn: EtcdConnection, writer: EtcdLogWriter, log: string): Promise<string[]> {
  const shardLog = await EtcdShardLog.open(conn, writer, log, settings);
  try {
    return (await collect(shardLog, 1)).map((r) => idOf(r.body));
  } finally {
    await shardLog.close();
  }
}

describe('etcd log: one member', () => {
  let members: EtcdMembers;
  let conn: EtcdConnection;
  let writer: EtcdLogWriter;
  before(async () => {
    members = await EtcdMembers.start({ count: 1, dir: join(root, 'shared') });
    conn = connect(members.endpoints);
    writer = new EtcdLogWriter(conn, settings);
  });
  after(async () => {
    conn?.client.close();
    await members?.stop();
  });

  test('two writers with their own clients on one shard never get the same seq', async () => {
    const other = connect(members.endpoints);
    try {
      const writers = [writer, new EtcdLogWriter(other, settings)];
      const results = await Promise.all(writers.map((w, k) =>
        Promise.all(Array.from({ length: 25 }, (_, i) => w.appendAtomic([{ log: 'two/0', bodies: [namedBody(`w${k}-${i}`)] }]).then(([seq]) => [seq!, `w${k}-${i}`] as const)))));
      const seqs = results.flat().map(([seq]) => seq).sort((a, b) => a - b);
      assert.deepEqual(seqs, Array.from({ length: 50 }, (_, i) => i + 1));
      const ids = await readAll(conn, writer, 'two/0');
      for (const [seq, id] of results.flat()) assert.equal(ids[seq - 1], id, `seq ${seq}`);
    } finally {
      other.client.close();
    }
  });

  test('appendAtomic over three shards commits every part, and a failed guard writes nothing', async () => {
    const seqs = await writer.appendAtomic([0, 1, 2].map((s) => ({ log: `atomic/${s}`, bodies: [namedBody(`a-${s}-1`), namedBody(`a-${s}-2`)] })));
    assert.deepEqual(seqs, [2, 2, 2]);
    // A writer that remembers every shard's next and may not retry, while another writer appends to shard 1 first.
    const stale = new EtcdLogWriter(conn, { ...settings, etcdAppendMaxRetries: 0 });
    assert.deepEqual(await stale.appendAtomic([0, 1, 2].map((s) => ({ log: `atomic/${s}`, bodies: [namedBody(`stale-${s}`)] }))), [3, 3, 3]);
    await writer.appendAtomic([{ log: 'atomic/1', bodies: [namedBody('winner')] }]);
    await assert.rejects(stale.appendAtomic([0, 1, 2].map((s) => ({ log: `atomic/${s}`, bodies: [namedBody(`lost-${s}`)] }))),
      hasCode(SqlState.SerializationFailure, /too much contention on shard log/));
    assert.deepEqual(await readAll(conn, writer, 'atomic/0'), ['a-0-1', 'a-0-2', 'stale-0']);
    assert.deepEqual(await readAll(conn, writer, 'atomic/1'), ['a-1-1', 'a-1-2', 'stale-1', 'winner']);
    assert.deepEqual(await readAll(conn, writer, 'atomic/2'), ['a-2-1', 'a-2-2', 'stale-2']);
  });

  test('a record over etcdRecordMaxBytes or a write over etcdTxnMaxBytes is refused with 54000; one at the limit round-trips', async () => {
    const atLimit = Buffer.alloc(settings.etcdRecordMaxBytes, 7);
    await assert.rejects(writer.appendAtomic([{ log: 'big/0', bodies: [Buffer.alloc(settings.etcdRecordMaxBytes + 1)] }]),
      hasCode(SqlState.ProgramLimitExceeded, /exceeds etcdRecordMaxBytes \(524288\)/));
    await assert.rejects(writer.appendAtomic([{ log: 'big/0', bodies: [atLimit, atLimit] }]),
      (err: unknown) => hasCode(SqlState.ProgramLimitExceeded, /exceeds etcdTxnMaxBytes \(1048576\)/)(err) && /smaller batches/.test((err as VectorgateError).hint ?? ''));
    assert.deepEqual(await writer.appendAtomic([{ log: 'big/0', bodies: [atLimit] }]), [1]);
    const log = await EtcdShardLog.open(conn, writer, 'big/0', settings);
    try {
      const records = await collect(log, 1);
      assert.equal(records.length, 1);
      assert.ok(records[0]!.body.equals(atLimit));
    } finally {
      await log.close();
    }
  });

  test('a tail that starts before the truncation point fails with 55000; one from it gets the rest', async () => {
    await writer.appendAtomic([{ log: 'trunc/0', bodies: [1, 2, 3, 4, 5, 6].map(body) }]);
    const log = await EtcdShardLog.open(conn, writer, 'trunc/0', settings);
    try {
      await log.truncateBefore(4);
      assert.equal(log.firstSeq, 4);
      await assert.rejects(log.tail(1, () => {}), hasCode(SqlState.ObjectNotInPrerequisiteState, /truncated past the replica: it holds records from 4, the replica needs 2/));
      const seen: number[] = [];
      await log.tail(3, (seq) => seen.push(seq));
      await until('the tail applied seq 6', () => seen.at(-1) === 6);
      assert.deepEqual(seen, [4, 5, 6]);
      assert.deepEqual(await readAll(conn, writer, 'trunc/0'), ['id-4', 'id-5', 'id-6']);
    } finally {
      await log.close();
    }
  });

  test('an apply step that throws stops the tail, and the log then refuses appends', async () => {
    const log = await EtcdShardLog.open(conn, writer, 'apply-fails/0', settings);
    try {
      const applied: number[] = [];
      await log.tail(0, (seq) => { if (seq === 2) throw new Error('index full'); applied.push(seq); });
      assert.ok(log.caughtUpAtMs > 0);
      await log.append(body(1));
      await log.append(body(2));
      await until('the tail stopped', () => log.failure !== null);
      assert.deepEqual(applied, [1]);
      assert.match(log.failure!.message, /record 2 of log apply-fails\/0 could not be applied/);
      await assert.rejects(log.append(body(3)), (err: unknown) => err === log.failure);
    } finally {
      await log.close();
    }
  });

  test('a paged read whose revision etcd compacts meanwhile goes on at the newest revision', async () => {
    const onePerPage = { ...settings, etcdTailPageBytes: 1 };
    for (let i = 1; i <= 3; i++) await writer.appendAtomic([{ log: 'compact/0', bodies: [body(i)] }]);
    const log = await EtcdShardLog.open(conn, writer, 'compact/0', onePerPage);
    try {
      const seen: number[] = [];
      for await (const record of log.records(1)) {
        seen.push(record.seq);
        if (record.seq !== 1) continue;
        await writer.appendAtomic([{ log: 'compact/0', bodies: [body(4)] }]);
        const { header } = await conn.client.kv.range({ key: Buffer.from('/t/log/compact/0/next') });
        await conn.client.kv.compact({ revision: header.revision, physical: true });
      }
      assert.deepEqual(seen, [1, 2, 3]);
    } finally {
      await log.close();
    }
  });

  test('writes are refused with 53400 once etcd\'s database passes etcdMaxDbFraction of etcdQuotaBytes', async () => {
    const tight = new EtcdLogWriter(conn, { ...settings, etcdQuotaBytes: 1024 * 1024, etcdMaxDbFraction: 0.01 });
    await assert.rejects(tight.appendAtomic([{ log: 'quota/0', bodies: [body(1)] }]), hasCode(SqlState.ConfigurationLimitExceeded, /etcdMaxDbFraction \(0\.01\) of etcdQuotaBytes \(1048576\)/));
    assert.deepEqual(await readAll(conn, writer, 'quota/0'), []);
  });
});

describe('etcd log: faults', () => {
  test('a log on an etcd nobody listens at fails to open with 08006 naming the endpoint', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const conn = connect([url]);
    try {
      await assert.rejects(EtcdShardLog.open(conn, new EtcdLogWriter(conn, settings), 'nobody/0', settings),
        (err: unknown) => hasCode(SqlState.ConnectionFailure, /^etcd is unreachable: could not read log nobody\/0 at http:\/\/127\.0\.0\.1:\d+/)(err) && (err as Error).message.includes(url));
    } finally {
      conn.client.close();
    }
  });

  test('etcd stopped mid-write: the writes fail with 08006 naming the endpoints, none half-applied, and writing goes on after a restart', async () => {
    await withEtcd(1, async (members, connectTo) => {
      const conn = connectTo(members.endpoints);
      const writer = new EtcdLogWriter(conn, settings);
      const outcomes: Promise<'ok' | VectorgateError>[] = [];
      for (let k = 0; k < 30; k++) {
        outcomes.push(writer.appendAtomic([0, 1, 2].map((s) => ({ log: `kill/${s}`, bodies: [namedBody(`w${k}`)] })))
          .then(() => 'ok' as const, (err: VectorgateError) => err));
        if (k === 10) await members.kill(0);
        else await new Promise((r) => setImmediate(r));
      }
      const settled = await Promise.all(outcomes);
      const failures = settled.filter((o): o is VectorgateError => o !== 'ok');
      assert.ok(failures.length > 0, 'no write failed while etcd was down');
      for (const err of failures) {
        assert.equal(err.code, SqlState.ConnectionFailure, err.message);
        assert.match(err.message, /etcd is unreachable/);
        assert.ok(err.message.includes(members.endpoints[0]!), err.message);
      }
      members.restart(0);
      await members.waitHealthy(20_000);
      assert.deepEqual(await writer.appendAtomic([0, 1, 2].map((s) => ({ log: `kill/${s}`, bodies: [namedBody('after')] }))).then((s) => s.length), 3);
      const shards = await Promise.all([0, 1, 2].map((s) => readAll(conn, writer, `kill/${s}`)));
      assert.deepEqual(shards[1], shards[0]);
      assert.deepEqual(shards[2], shards[0]);
      settled.forEach((o, k) => { if (o === 'ok') assert.ok(shards[0]!.includes(`w${k}`), `acknowledged write ${k} is missing`); });
      assert.equal(shards[0]!.at(-1), 'after');
    });
  });

  test('a write whose answer is lost is retried and applied exactly once', async () => {
    await withEtcd(1, async (members, connectTo) => {
      const relay = await startCuttableRelay(portOf(members.endpoints[0]!));
      try {
        const writer = new EtcdLogWriter(connectTo([relay.url]), settings);
        const direct = connectTo(members.endpoints);
        await writer.appendAtomic([{ log: 'lost/0', bodies: [namedBody('first')] }, { log: 'lost/1', bodies: [namedBody('first')] }]);
        relay.swallowReplies = true;
        const write = writer.appendAtomic([{ log: 'lost/0', bodies: [namedBody('once')] }, { log: 'lost/1', bodies: [namedBody('once')] }]);
        // etcd applied it (the request got through) while its answer went nowhere; then the connection drops.
        let committed = false;
        const poll = setInterval(() => void direct.client.get('/t/log/lost/0/next').string().then((v) => { committed = v === '3'; }, () => {}), 20);
        try {
          await until('etcd committed the write', () => committed);
        } finally {
          clearInterval(poll);
        }
        relay.swallowReplies = false;
        relay.cut();
        assert.deepEqual(await write, [2, 2]);
        assert.deepEqual(await readAll(direct, writer, 'lost/0'), ['first', 'once']);
        assert.deepEqual(await readAll(direct, writer, 'lost/1'), ['first', 'once']);
        assert.equal(await direct.client.get('/t/log/lost/1/next').string(), '3');
      } finally {
        await relay.stop();
      }
    });
  });

  test('gap healing: a tail applies every record exactly once while all 3 members restart and its connections are cut', async () => {
    await withEtcd(3, async (members, connectTo) => {
      const relays: CuttableRelay[] = [];
      const random = seeded(10);
      const writer = new EtcdLogWriter(connectTo(members.endpoints), settings);
      const writing = { stop: false, acknowledged: [] as string[] };
      try {
        for (const url of members.endpoints) relays.push(await startCuttableRelay(portOf(url)));
        const tailConn = connectTo(relays.map((r) => r.url));
        const log = await EtcdShardLog.open(tailConn, new EtcdLogWriter(tailConn, settings), 'heal/0', settings);
        const applied: [number, string][] = [];
        try {
          const writes = writeUntilStopped(writer, random, writing);
          await until('some records were written', () => writing.acknowledged.length >= 20);
          await log.tail(0, (seq, b) => applied.push([seq, idOf(b)]));
          for (let i = 0; i < members.count; i++) {
            await members.kill(i);
            await pause(random, writing, 10);
            members.restart(i);
            await members.waitHealthy(20_000);
            await pause(random, writing, 10);
          }
          for (let cut = 0; cut < 3; cut++) {
            relays.forEach((r) => r.cut());
            await pause(random, writing, 10);
          }
          await Promise.all([0, 1, 2].map((i) => members.kill(i)));
          [0, 1, 2].forEach((i) => members.restart(i));
          await members.waitHealthy(20_000);
          await pause(random, writing, 10);
          writing.stop = true;
          await writes;
          const records = await readAll(connectTo(members.endpoints), writer, 'heal/0');
          await until(`the tail applied all ${records.length} records`, () => applied.length >= records.length);
          assert.deepEqual(applied, records.map((id, i) => [i + 1, id]));
          for (const id of writing.acknowledged) assert.ok(records.includes(id), `acknowledged ${id} is missing`);
          assert.equal(log.failure, null);
        } finally {
          writing.stop = true;
          await log.close();
        }
      } finally {
        writing.stop = true;
        await Promise.all(relays.map((r) => r.stop()));
      }
    });
  });
});

/** Appends records of seeded sizes, one after another, until told to stop; failures (etcd down) are retried. */
async function writeUntilStopped(writer: EtcdLogWriter, random: Random, state: { stop: boolean; acknowledged: string[] }): Promise<void> {
  for (let i = 0; !state.stop; i++) {
    const id = `r${i}-${'x'.repeat(randomInt(random, 2000))}`;
    try {
      await writer.appendAtomic([{ log: 'heal/0', bodies: [namedBody(id)] }]);
      state.acknowledged.push(id);
    } catch (err) {
      if (!(err instanceof VectorgateError)) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Lets the writer add a few more records (a seeded number) before the next fault. */
async function pause(random: Random, state: { acknowledged: string[] }, most: number): Promise<void> {
  const target = state.acknowledged.length + 1 + randomInt(random, most);
  await until(`${target} records were acknowledged`, () => state.acknowledged.length >= target);
}

import { strict as assert } from 'node:assert';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULTS } from '../../src/config.ts';
import { VectorgateError } from '../../src/errors.ts';
import { decodeBody, encodeBody, type Op } from '../../src/storage/record-codec.ts';
import { Wal, type WalOptions } from '../../src/storage/wal.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-wal-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => { const d = join(root, String(dirs++)); mkdirSync(d); return d; };
const options: WalOptions = { ...DEFAULTS };
const body = (i: number) => encodeBody(2, [{ op: 'upsert', id: `id-${i}`, vector: Float32Array.of(i, -i), payload: `{"i":${i}}` }]);
const segments = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.wal')).sort();

async function collect(wal: Wal, from = 1) {
  const out = [];
  for await (const r of wal.records(from)) out.push(r);
  return out;
}

describe('record codec', () => {
  test('round-trips upserts and deletes in order, unicode ids, null payloads', () => {
    const ops: Op[] = [
      { op: 'upsert', id: 'ä-1', vector: Float32Array.of(1.5, -2, 3e-8), payload: '{"a":[1,"ü"]}' },
      { op: 'delete', id: 'x' },
      { op: 'upsert', id: '', vector: Float32Array.of(0, 0, 1), payload: null },
    ];
    assert.deepEqual(decodeBody(encodeBody(3, ops)), { dims: 3, ops });
  });
});

describe('write-ahead log', () => {
  test('concurrent appends share group commits and come back in order after reopen', async () => {
    const dir = freshDir();
    const wal = await Wal.open(dir, options);
    const seen: number[] = [];
    await wal.tail(wal.lastSeq, (seq) => seen.push(seq));
    const seqs = await Promise.all(Array.from({ length: 200 }, (_, i) => wal.append(body(i))));
    assert.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => i + 1));
    assert.deepEqual(seen, seqs);
    assert.ok(wal.groupCommits < 10, `${wal.groupCommits} fsyncs for 200 concurrent appends`);
    await wal.close();
    await assert.rejects(wal.append(body(0)), VectorgateError);
    const reopened = await Wal.open(dir, options);
    assert.equal(reopened.lastSeq, 200);
    const records = await collect(reopened, 150);
    assert.equal(records.length, 51);
    assert.deepEqual(decodeBody(records[0]!.body).ops[0], decodeBody(body(149)).ops[0]);
    await reopened.close();
  });

  test('rolls segments over and truncates whole segments before a sequence number', async () => {
    const dir = freshDir();
    const wal = await Wal.open(dir, { ...options, walSegmentBytes: 200 });
    for (let i = 0; i < 30; i++) await wal.append(body(i));
    assert.ok(segments(dir).length >= 5, `${segments(dir).length} segments`);
    await wal.truncateBefore(20);
    assert.ok(wal.firstSeq <= 20 && wal.firstSeq > 1);
    assert.deepEqual((await collect(wal, 20)).map((r) => r.seq), Array.from({ length: 11 }, (_, i) => i + 20));
    await wal.close();
    const reopened = await Wal.open(dir, { ...options, walSegmentBytes: 200 });
    assert.equal(reopened.lastSeq, 30);
    assert.equal(await reopened.append(body(31)), 31);
    await reopened.close();
  });

  test('startAfter continues numbering after a snapshot when the log is empty', async () => {
    const dir = freshDir();
    const wal = await Wal.open(dir, options);
    await wal.startAfter(41);
    assert.equal(await wal.append(body(1)), 42);
    await wal.close();
    const reopened = await Wal.open(dir, options);
    assert.equal(reopened.lastSeq, 42);
    await reopened.close();
  });

  for (const [name, damage] of [
    ['cut inside the last record', (file: string) => writeFileSync(file, readFileSync(file).subarray(0, statSync(file).size - 7))],
    ['cut inside the last header', (file: string) => { const b = readFileSync(file); writeFileSync(file, b.subarray(0, b.length - 40 + 5)); }],
    ['garbage after the last record', (file: string) => appendFileSync(file, Buffer.from('\x07\x00\x00\x00garbage-garbage-garbage'))],
    ['zeros after the last record', (file: string) => appendFileSync(file, Buffer.alloc(4096))],
  ] as const) {
    test(`a torn tail is cut off: ${name}`, async () => {
      const dir = freshDir();
      const wal = await Wal.open(dir, options);
      for (let i = 0; i < 10; i++) await wal.append(body(i));
      await wal.close();
      const file = join(dir, segments(dir).at(-1)!);
      const goodSize = statSync(file).size;
      damage(file);
      const reopened = await Wal.open(dir, options);
      const expectLast = name.startsWith('cut') ? 9 : 10;
      assert.equal(reopened.lastSeq, expectLast);
      assert.ok(statSync(file).size <= goodSize);
      assert.equal(await reopened.append(body(99)), expectLast + 1);
      assert.equal((await collect(reopened)).length, expectLast + 1);
      await reopened.close();
    });
  }

  test('a bad checksum before the tail refuses to start, naming the file and offset', async () => {
    const dir = freshDir();
    const wal = await Wal.open(dir, options);
    for (let i = 0; i < 10; i++) await wal.append(body(i));
    await wal.close();
    const file = join(dir, segments(dir)[0]!);
    const bytes = readFileSync(file);
    const recordBytes = bytes.length / 10;
    bytes[3 * recordBytes + 20] ^= 0xff;
    writeFileSync(file, bytes);
    await assert.rejects(Wal.open(dir, options), (err) => {
      assert.ok(err instanceof VectorgateError);
      assert.equal(err.code, 'XX001');
      assert.match(err.message, new RegExp(`${file}.*offset ${3 * recordBytes}\\b`));
      return true;
    });
    assert.deepEqual(readFileSync(file), bytes, 'a refused log is left as it was');
  });

  test('a bad record in an older segment refuses to start even at its end', async () => {
    const dir = freshDir();
    const wal = await Wal.open(dir, { ...options, walSegmentBytes: 100 });
    for (let i = 0; i < 6; i++) await wal.append(body(i));
    await wal.close();
    const file = join(dir, segments(dir)[1]!);
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] ^= 0x01;
    writeFileSync(file, bytes);
    await assert.rejects(Wal.open(dir, options), /00000000000000000003\.wal is corrupted at byte offset 51: bad checksum/);
  });
});

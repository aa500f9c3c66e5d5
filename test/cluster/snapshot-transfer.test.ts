// The receiving end of a snapshot transfer with the messages a broken or hostile worker could send:
// names that would leave the directory, chunks out of order, files twice, sizes that disagree with
// the end message, a damaged file (the manifest's CRC32C), a stream that ends early, and limits.
// Each fails with a clear error and leaves neither a snapshot nor a temp directory behind.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { receiveSnapshot } from '../../src/cluster/snapshot-receive.ts';
import { decodeSnapshotMessage, encodeChunk, encodeEnd, type SnapshotMessage } from '../../src/cluster/snapshot-stream.ts';
import { makeConfig } from '../../src/config.ts';
import { VectorgateError } from '../../src/errors.ts';
import { ShardReplica } from '../../src/router/shard-replica.ts';
import { openLocalLog } from '../../src/router/local-log.ts';
import { listSnapshots, type SnapshotRef } from '../../src/storage/snapshot.ts';
import { randomVectors, rng } from '../engine/helpers/data.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-snapshot-transfer-'));
after(() => rmSync(root, { recursive: true, force: true }));
const config = makeConfig();
const limits = { maxBytes: 1 << 20, gzipMinBytes: 0 };
let n = 0;

async function* from(messages: SnapshotMessage[]): AsyncGenerator<SnapshotMessage> {
  for (const message of messages) yield message;
}

function fails(code: string, pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof VectorgateError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('snapshot receive', () => {
  let source: SnapshotRef;
  const files: { name: string; data: Buffer }[] = [];

  before(async () => {
    const dir = join(root, 'source');
    const replica = await ShardReplica.open(dir, { engine: 'usearch', dims: 4, metric: 'l2', quantization: 'none', m: 16, efConstruction: 64 }, config, await openLocalLog(dir, config));
    await replica.write(Array.from({ length: 20 }, (_, i) => ({ op: 'upsert' as const, id: `r${i}`, vector: randomVectors(rng(i), 1, 4), payload: null })));
    await replica.snapshot();
    await replica.close();
    source = listSnapshots(dir)[0]!;
    for (const name of (await readdir(source.dir)).sort()) files.push({ name, data: await readFile(join(source.dir, name)) });
  });

  /** The messages a good worker sends for the source snapshot, in chunks of 64 bytes. */
  function good(): SnapshotMessage[] {
    const out: SnapshotMessage[] = [];
    for (const { name, data } of files) {
      for (let offset = 0; offset === 0 || offset < data.length; offset += 64) out.push({ kind: 'chunk', name, offset, data: data.subarray(offset, offset + 64) });
    }
    out.push({ kind: 'end', seq: source.seq, files: Object.fromEntries(files.map((f) => [f.name, f.data.length])) });
    return out;
  }

  async function refused(messages: SnapshotMessage[], check: (err: unknown) => boolean, settings = config): Promise<void> {
    const into = join(root, `into-${n++}`);
    await assert.rejects(receiveSnapshot(from(messages), into, settings, 'w1:7000'), check);
    assert.deepEqual(readdirSync(join(into, 'snapshots')), [], 'neither a snapshot nor a temp directory is left');
  }

  test('the good stream lands as the same snapshot', async () => {
    const into = join(root, 'good');
    const ref = await receiveSnapshot(from(good()), into, config, 'w1:7000');
    assert.deepEqual(listSnapshots(into), [ref]);
    for (const { name, data } of files) assert.deepEqual(await readFile(join(ref.dir, name)), data);
  });

  test('a damaged file fails its manifest check (XX001)', async () => {
    const messages = good();
    const chunk = messages.find((m) => m.kind === 'chunk' && m.name !== 'manifest.json') as Extract<SnapshotMessage, { kind: 'chunk' }>;
    chunk.data = Buffer.from(chunk.data);
    chunk.data[0] = chunk.data[0]! ^ 0xff;
    await refused(messages, fails('XX001', /^snapshot from worker w1:7000 does not verify: .*bad checksum/));
  });

  test('chunks out of order, a file twice, sizes that disagree, an early end', async () => {
    const messages = good();
    const gap = messages.filter((m, i) => !(i === 1 && m.kind === 'chunk'));
    await refused(gap, fails('08P01', /chunk at \d+, expected \d+|bytes received, \d+ declared/));
    const first = messages[0]!;
    await refused([first, ...messages.slice(1).filter((m) => m.kind === 'chunk' && m.name !== (first as { name: string }).name), first, messages.at(-1)!],
      fails('08P01', /arrived twice/));
    const end = messages.at(-1) as Extract<SnapshotMessage, { kind: 'end' }>;
    await refused([...messages.slice(0, -1), { ...end, files: { ...end.files, extra: 3 } }], fails('08P01', /snapshot file extra: no bytes received, 3 declared/));
    await refused(messages.slice(0, -1), fails('08006', /snapshot stream from worker w1:7000 ended before its end message/));
  });

  test('the worker\'s own error arrives as its VectorgateError', async () => {
    await refused([...good().slice(0, 2), { kind: 'error', error: { code: '53100', message: 'disk full on worker', severity: 'ERROR' } }], fails('53100', /^disk full on worker$/));
  });

  test('more bytes or files than the limits allow', async () => {
    await refused(good(), fails('54000', /more than 100 bytes \(grpcSnapshotMaxBytes\)/), makeConfig({ grpcSnapshotMaxBytes: 100 }));
    await refused(good(), fails('54000', /more than 1 files \(grpcSnapshotMaxFiles\)/), makeConfig({ grpcSnapshotMaxFiles: 1 }));
  });

  test('names that are not plain file names are refused when decoding', () => {
    for (const name of ['../escape', '/etc/passwd', 'a/b', '.hidden', '', 'x'.repeat(300)]) {
      assert.throws(() => decodeSnapshotMessage(encodeChunk(name, 0, Buffer.from('x'), limits), limits), fails('08P01', /is not a plain file name/));
      assert.throws(() => decodeSnapshotMessage(encodeEnd(1, { [name]: 1 }, limits), limits), fails('08P01', /is not a plain file name/));
    }
    assert.deepEqual(decodeSnapshotMessage(encodeChunk('index.bin', 64, Buffer.from('abc'), limits), limits), { kind: 'chunk', name: 'index.bin', offset: 64, data: Buffer.from('abc') });
  });
});

// The write-ahead log's failure paths: each file operation it performs fails once (through the
// WalFileSystem seam: an fsync failure cannot be caused for real), and the test checks that every
// append pending at that moment is rejected with the right SQLSTATE, that the log accepts appends
// again without a restart, and that after reopening it holds exactly the acknowledged records.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULTS } from '../../src/config.ts';
import { VectorgateError } from '../../src/errors.ts';
import { decodeBody, encodeBody } from '../../src/storage/record-codec.ts';
import { Wal, type WalOptions } from '../../src/storage/wal.ts';
import { nodeWalFileSystem } from '../../src/storage/wal-fs.ts';
import { FaultyFileSystem } from '../helpers/faulty-wal-fs.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-wal-faults-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => { const d = join(root, String(dirs++)); mkdirSync(d); return d; };
const body = (i: number) => encodeBody(2, [{ op: 'upsert', id: `id-${i}`, vector: Float32Array.of(i, -i), payload: null }]);
const segments = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.wal')).sort();

/** A promise's outcome, recorded as soon as it settles (so a test can see which are still pending). */
function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then((value) => Object.assign(state, { settled: true, value }), (error: unknown) => Object.assign(state, { settled: true, error }));
  return state;
}

/** The ids of every record the log in `dir` holds, read back by a fresh open on the real file system. */
async function idsAfterReopen(dir: string, options: WalOptions): Promise<string[]> {
  const wal = await Wal.open(dir, { ...options, walFileSystem: nodeWalFileSystem });
  try {
    const ids: string[] = [];
    for await (const record of wal.records(1)) {
      for (const op of decodeBody(record.body).ops) ids.push(op.id);
    }
    return ids;
  } finally {
    await wal.close();
  }
}

function assertRejectedWith(state: ReturnType<typeof track>, code: string, what: string): void {
  assert.ok(state.settled, `${what} is still pending`);
  assert.ok(state.error instanceof VectorgateError, `${what} was not rejected: ${String(state.value)}`);
  assert.equal(state.error.code, code, `${what}: ${state.error.message}`);
}

// One record per group, so that appends queue behind the one being written.
const oneRecordGroups: WalOptions = { ...DEFAULTS, walGroupCommitMaxBytes: 1 };

describe('write-ahead log failures', () => {
  for (const [operation, code, sqlState] of [
    ['write', 'ENOSPC', '53100'],
    ['write', 'EIO', '58030'],
    ['datasync', 'EIO', '58030'],
    ['datasync', 'ENOSPC', '53100'],
  ] as const) {
    test(`a failed ${operation} (${code}) rejects the group and everything queued; the log then accepts appends again`, async () => {
      const dir = freshDir();
      const fs = new FaultyFileSystem();
      const wal = await Wal.open(dir, { ...oneRecordGroups, walFileSystem: fs });
      try {
        for (let i = 1; i <= 3; i++) assert.equal(await wal.append(body(i)), i);
        fs.arm(operation, code);
        const doomed = [4, 5, 6, 7, 8].map((i) => wal.append(body(i)));
        const states = doomed.map(track);
        await Promise.allSettled(doomed);
        states.forEach((s, i) => assertRejectedWith(s, sqlState, `append ${i + 4}`));
        if (code === 'ENOSPC') assert.match((states[0]!.error as Error).message, /^could not (extend|fsync) file ".*\.wal": No space left on device$/);
        assert.equal(await wal.append(body(9)), 4, 'the next append is accepted without a restart');
      } finally {
        await wal.close();
      }
      assert.deepEqual(await idsAfterReopen(dir, oneRecordGroups), ['id-1', 'id-2', 'id-3', 'id-9'],
        'acknowledged records survive and rejected ones do not reappear');
    });
  }

  for (const [operation, code, sqlState] of [
    ['openAppend', 'ENOSPC', '53100'],
    ['fsyncDir', 'EIO', '58030'],
  ] as const) {
    test(`a failed rollover (${operation}, ${code}) rejects everything queued instead of leaving it pending`, async () => {
      const dir = freshDir();
      const fs = new FaultyFileSystem();
      const options: WalOptions = { ...oneRecordGroups, walSegmentBytes: 1 };
      const wal = await Wal.open(dir, { ...options, walFileSystem: fs });
      fs.arm(operation, code);
      const queued = [1, 2, 3, 4, 5].map((i) => wal.append(body(i)));
      const states = queued.map(track);
      try {
        assert.equal(await queued[0], 1, 'the group before the rollover was durable and is acknowledged');
      } finally {
        // close() waits until the log has stopped writing: whatever is pending then would be pending forever.
        await wal.close();
      }
      states.slice(1).forEach((s, i) => assertRejectedWith(s, sqlState, `append ${i + 2}`));
      assert.equal(wal.failure, null, 'the half-made rollover was repaired');
      assert.deepEqual(segments(dir), [segments(dir)[0]], 'no half-made segment is left behind');
      const reopened = await Wal.open(dir, options);
      try {
        assert.equal(await reopened.append(body(6)), 2);
      } finally {
        await reopened.close();
      }
      assert.deepEqual(await idsAfterReopen(dir, options), ['id-1', 'id-6']);
    });
  }

  test('while the disk stays full the repair is retried before each group; once there is space, appends succeed', async () => {
    const dir = freshDir();
    const fs = new FaultyFileSystem();
    const wal = await Wal.open(dir, { ...oneRecordGroups, walFileSystem: fs });
    try {
      assert.equal(await wal.append(body(1)), 1);
      fs.arm('datasync', 'ENOSPC');
      fs.arm('fsyncFile', 'ENOSPC', 2);
      await assert.rejects(wal.append(body(2)), (e) => e instanceof VectorgateError && e.code === '53100');
      assert.equal(wal.failure?.code, '53100', 'the first repair failed too');
      await assert.rejects(wal.append(body(3)), (e) => e instanceof VectorgateError && e.code === '53100' && /No space left on device/.test(e.message));
      assert.equal(await wal.append(body(4)), 2, 'the repair succeeded once the disk had space');
      assert.equal(wal.failure, null);
    } finally {
      await wal.close();
    }
    assert.deepEqual(await idsAfterReopen(dir, oneRecordGroups), ['id-1', 'id-4']);
    assert.equal(segments(dir).length, 1);
  });
});

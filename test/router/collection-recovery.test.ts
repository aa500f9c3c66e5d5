// Collections opened in the background (what `vectorgate proxy` and `start` do): the catalog is open at
// once, and each collection recovers (snapshot + log replay of its shards) meanwhile. A statement on a
// recovering collection waits for it (recoveryWaitMs) or gets 57P03 naming it; listing still lists it
// (vectors NULL); create of its name is 42710 (as for any existing name) and drop waits like any
// statement; a collection whose recovery failed answers with why and can be dropped; other
// collections work meanwhile. The logs are written by a child process that exits without a shutdown
// snapshot, so replay is all there is. The window is deterministic without a clock: the calls are
// made before the event loop turns once after open() returns, and a shard's open needs file reads
// and a worker's reply (macrotasks).
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeConfig, type Config } from '../../src/config.ts';
import { VectorgateError } from '../../src/errors.ts';
import { Collections } from '../../src/router/collections.ts';
import { COLLECTIONS_DIR } from '../../src/storage/catalog.ts';
import { DIMS, rowOf } from './fixtures/log-only-rows.ts';

const DATABASE = 'app';
const DOCS_ROWS = 3000;
const NOTES_ROWS = 400;
const root = mkdtempSync(join(tmpdir(), 'vg-recovery-'));
/** The log-only data written once; each test recovers a copy of it. */
const written = join(root, 'written');
let copies = 0;
after(() => rmSync(root, { recursive: true, force: true }));

before(async () => {
  const specs = [{ name: 'docs', shards: 2, rows: DOCS_ROWS }, { name: 'notes', shards: 1, rows: NOTES_ROWS }];
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/log-only-writer.ts'), written, DATABASE, JSON.stringify(specs)],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0);
  assert.equal(out, 'done\n');
});

function copy(): string {
  const dir = join(root, `copy-${copies++}`);
  cpSync(written, dir, { recursive: true });
  return dir;
}

function config(dir: string, overrides: Partial<Config> = {}): Config {
  return makeConfig({ dataDir: dir, shardWorkers: 2, ...overrides });
}

/** The SQLSTATE and message a call rejected with ('ok' when it did not). */
async function outcome(call: Promise<unknown>): Promise<{ code: string; message: string; detail?: string }> {
  try {
    await call;
    return { code: 'ok', message: '' };
  } catch (err) {
    assert.ok(err instanceof VectorgateError, String(err));
    return { code: err.code, message: err.message, detail: err.detail };
  }
}

const query = Float32Array.from(rowOf(7).vector);

describe('collections recovering in the background', () => {
  test('a recovering collection answers 57P03 at once with recoveryWaitMs 0; listing lists it; create is 42710', async () => {
    const dir = copy();
    const all = await Collections.open(dir, config(dir, { recoveryWaitMs: 0 }), { background: true });
    try {
      const db = all.in(DATABASE);
      // All made before the event loop turns: no shard can have opened yet.
      const calls = {
        search: outcome(db.search('docs', query, 3)),
        get: outcome(db.get('docs', 'r1')),
        upsert: outcome(db.upsert('docs', [rowOf(DOCS_ROWS)])),
        drop: outcome(db.dropCollection('docs')),
        snapshot: outcome(db.snapshot('docs')),
        create: outcome(db.createCollection({ name: 'docs', dims: DIMS, owner: 'recovery' })),
      };
      const listed = db.listCollections();
      for (const [name, got] of Object.entries(calls)) {
        if (name === 'create') continue;
        const { code, message, detail } = await got;
        assert.equal(code, '57P03', `${name}: ${message}`);
        assert.equal(message, 'collection "docs" is recovering');
        assert.match(detail ?? '', /^0 of 2 shards open/);
      }
      assert.deepEqual(await calls.create, { code: '42710', message: 'collection "docs" already exists', detail: undefined });
      assert.deepEqual((await listed).map((c) => [c.name, c.vectors]).sort(), [['docs', null], ['notes', null]]);

      await all.recovered();
      assert.deepEqual((await db.listCollections()).map((c) => [c.name, c.vectors]).sort(), [['docs', DOCS_ROWS], ['notes', NOTES_ROWS]]);
      assert.equal((await db.search('docs', query, 1))[0]?.id, 'r7');
    } finally {
      await all.close();
    }
  });

  test('a statement waits for the recovery and answers; every acknowledged row is there', async () => {
    const dir = copy();
    const all = await Collections.open(dir, config(dir), { background: true });
    try {
      const db = all.in(DATABASE);
      const first = db.search('docs', query, 3);
      const fresh = db.createCollection({ name: 'fresh', dims: DIMS, owner: 'recovery' });
      assert.equal(all.count, 2, 'the catalog is open before any collection has recovered');
      assert.deepEqual((await first).map((h) => h.id).slice(0, 1), ['r7']);
      await fresh;
      await db.upsert('fresh', [rowOf(1)]);
      await all.recovered();
      for (let i = 0; i < DOCS_ROWS; i++) {
        const row = await db.get('docs', `r${i}`);
        assert.deepEqual(row, { id: `r${i}`, vector: Float32Array.from(rowOf(i).vector), payload: JSON.stringify({ i }) }, `row r${i}`);
      }
      assert.equal((await db.get('notes', `r${NOTES_ROWS - 1}`))?.id, `r${NOTES_ROWS - 1}`);
      assert.equal((await db.get('fresh', 'r1'))?.id, 'r1');
    } finally {
      await all.close();
    }
  });

  test('a collection whose recovery failed answers with why, the others work, and it can be dropped and made again', async () => {
    const dir = copy();
    const catalog = JSON.parse(readFileSync(join(dir, 'catalog.json'), 'utf8')) as { collections: { name: string; dir: string }[] };
    const docsDir = catalog.collections.find((c) => c.name === 'docs')!.dir;
    // A file where shard 1's log directory should be: its open fails (EEXIST), shard 0's does not.
    const shardWal = join(dir, COLLECTIONS_DIR, docsDir, 'shard-1', 'wal');
    rmSync(shardWal, { recursive: true });
    writeFileSync(shardWal, 'not a directory');
    const all = await Collections.open(dir, config(dir), { background: true });
    try {
      await all.recovered();
      const db = all.in(DATABASE);
      const failed = await outcome(db.search('docs', query, 3));
      assert.notEqual(failed.code, 'ok');
      assert.match(failed.message, /^collection "docs" could not be recovered: /);
      assert.deepEqual(await outcome(db.get('docs', 'r1')), failed, 'every statement gets the same error');
      assert.equal((await db.get('notes', 'r3'))?.id, 'r3');
      assert.deepEqual((await db.listCollections()).map((c) => [c.name, c.vectors]).sort(), [['docs', null], ['notes', NOTES_ROWS]]);
      await db.dropCollection('docs');
      await db.createCollection({ name: 'docs', dims: DIMS, owner: 'recovery' });
      await db.upsert('docs', [rowOf(5)]);
      assert.equal((await db.search('docs', query, 1))[0]?.id, 'r5');
    } finally {
      await all.close();
    }
  });

  test('closing while collections recover ends their replay, and the next open recovers everything', async () => {
    const dir = copy();
    const first = await Collections.open(dir, config(dir), { background: true });
    const listed = first.in(DATABASE).listCollections();
    await first.close();
    assert.deepEqual((await listed).map((c) => c.vectors), [null, null], 'both were recovering when close began');
    const again = await Collections.open(dir, config(dir));
    try {
      const db = again.in(DATABASE);
      assert.deepEqual((await db.listCollections()).map((c) => [c.name, c.vectors]).sort(), [['docs', DOCS_ROWS], ['notes', NOTES_ROWS]]);
    } finally {
      await again.close();
    }
  });
});

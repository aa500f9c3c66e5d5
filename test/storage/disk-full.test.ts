// A full disk. As root (CI), the collections live on a real 2 MiB tmpfs that the test fills: writes
// through the proxy get 53100 disk_full naming the file, vector_create_collection gets 53100 and
// leaves no half-made collection, a snapshot gets 53100 and leaves no temp files; once the filler is
// removed, everything works again without a restart, and a restart finds exactly what was
// acknowledged. Without root a tmpfs cannot be mounted, so the log's file-system seam plays the full
// disk instead.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { DEFAULTS, makeConfig } from '../../src/config.ts';
import { VectorgateError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import { Collections } from '../../src/router/collections.ts';
import { encodeBody } from '../../src/storage/record-codec.ts';
import { Wal } from '../../src/storage/wal.ts';
import { startProxy, type ProxyServer } from '../../src/wire/server.ts';
import { DATABASE, ROLES, startCluster, type TestCluster } from '../helpers/cluster.ts';
import { FaultyFileSystem } from '../helpers/faulty-wal-fs.ts';

const asRoot = process.getuid?.() === 0;
const FILLER = 'filler';
const NO_SPACE = /^could not extend file ".*\.wal": No space left on device$/;

/** Writes zeros to `path` until the file system has no byte left (the last write comes back short). */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

/** The error a query fails with; fails the test when the query succeeds. */
async function failure(client: pg.Client, sql: string): Promise<pg.DatabaseError> {
  try {
    await client.query(sql);
  } catch (err) {
    return err as pg.DatabaseError;
  }
  assert.fail(`expected ${sql} to fail`);
}

/** Every file or directory under `dir` whose name starts with `prefix`. */
function findNamed(dir: string, prefix: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) => p.split('/').at(-1)!.startsWith(prefix));
}

/** As root: a real tmpfs, filled for real, behind a real proxy and PostgreSQL. */
function realFullDisk(): void {
  const mountDir = mkdtempSync(join(tmpdir(), 'vg-full-'));
  let mounted = false;
  let cluster: TestCluster | null = null;
  let collections: Collections | null = null;
  let proxy: ProxyServer | null = null;
  let client: pg.Client | null = null;

  before(async () => {
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountDir], { encoding: 'utf8' });
    assert.equal(mount.status, 0, `mount failed: ${mount.stderr}`);
    mounted = true;
    cluster = await startCluster();
    const config = makeConfig({ listenPort: 0, upstreamPort: cluster.port, logLevel: 'silent', metricsPort: 0, shardWorkers: 1 });
    collections = await Collections.open(mountDir, config);
    proxy = await startProxy(config, createMetrics(), createLogger(config.logLevel), collections);
    client = new pg.Client({ host: '127.0.0.1', port: proxy.port, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE });
    await client.connect();
  });

  after(async () => {
    const steps = [
      () => client?.end(),
      () => proxy?.close(),
      () => collections?.close(),
      () => cluster?.stop(),
      () => { if (mounted) assert.equal(spawnSync('umount', [mountDir]).status, 0, 'umount failed'); },
      () => rmSync(mountDir, { recursive: true, force: true }),
    ];
    const errors: unknown[] = [];
    for (const step of steps) {
      try { await step(); } catch (err) { errors.push(err); }
    }
    if (errors.length > 0) throw errors[0];
  });

  test('writes, collection creation and snapshots get 53100 while full, and work again once space is freed', async (t) => {
    const c = client!;
    // One shard, so that the snapshot below has finished (and cleaned up) when its error arrives.
    await c.query(`SELECT vector_create_collection('docs', 4, shards => 1)`);
    await c.query(`SELECT vector_upsert('docs', $1)`, [JSON.stringify([{ id: 'a', vector: [1, 0, 0, 0] }, { id: 'b', vector: [0, 1, 0, 0] }])]);
    const collectionDirs = readdirSync(join(mountDir, 'collections'));

    fill(join(mountDir, FILLER));
    // Larger than a page: a smaller record could still fit into the log's last, partly used page.
    const write = await failure(c, `SELECT vector_upsert('docs', 'lost', '[0,0,1,0]', '{"text":"${'x'.repeat(3 * 4096)}"}')`);
    assert.equal(write.code, '53100', write.message);
    assert.match(write.message, NO_SPACE);
    assert.equal(write.hint, 'Check free disk space.');
    t.diagnostic(`vector_upsert on a full disk: ${write.code} ${write.message}`);
    assert.equal((await c.query('SELECT 1 AS alive')).rows[0].alive, 1, 'the session goes on');

    const create = await failure(c, `SELECT vector_create_collection('more', 4, shards => 2)`);
    assert.equal(create.code, '53100', create.message);
    assert.match(create.message, /No space left on device/);
    t.diagnostic(`vector_create_collection on a full disk: ${create.code} ${create.message}`);
    assert.deepEqual((await c.query('SELECT name FROM vector_collections()')).rows, [{ name: 'docs' }]);
    assert.deepEqual(readdirSync(join(mountDir, 'collections')), collectionDirs, 'no half-made collection directory');
    assert.deepEqual(findNamed(mountDir, 'catalog.json.tmp'), []);

    await assert.rejects(collections!.in(DATABASE).snapshot('docs'), (err) => {
      assert.ok(err instanceof VectorgateError);
      assert.equal(err.code, '53100', err.message);
      assert.match(err.message, /No space left on device/);
      t.diagnostic(`snapshot on a full disk: ${err.code} ${err.message}`);
      return true;
    });
    assert.deepEqual(findNamed(mountDir, '.tmp-'), [], 'no snapshot temp files left behind');

    rmSync(join(mountDir, FILLER));
    await c.query(`SELECT vector_upsert('docs', 'c', '[0,0,0,1]')`);
    await c.query(`SELECT vector_create_collection('more', 4, shards => 2)`);
    await c.query(`SELECT vector_upsert('more', 'm', '[1,1,1,1]')`);
    await collections!.in(DATABASE).snapshot('docs');

    await c.end();
    client = null;
    await proxy!.close();
    proxy = null;
    await collections!.close();
    collections = await Collections.open(mountDir, makeConfig({ shardWorkers: 1 }));
    for (const [name, id] of [['docs', 'a'], ['docs', 'b'], ['docs', 'c'], ['more', 'm']] as const) {
      assert.notEqual(await collections.in(DATABASE).get(name, id), null, `${name}/${id} was acknowledged`);
    }
    assert.equal(await collections.in(DATABASE).get('docs', 'lost'), null, 'the rejected write does not reappear');
  });
}

/** Without root: the log's file-system seam reports ENOSPC while the "disk" is full. */
function injectedFullDisk(): void {
  const dir = mkdtempSync(join(tmpdir(), 'vg-full-seam-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const body = (id: string) => encodeBody(1, [{ op: 'upsert', id, vector: Float32Array.of(1), payload: null }]);

  test('appends get 53100 while the disk is full and succeed once it has space', async () => {
    const fs = new FaultyFileSystem();
    const wal = await Wal.open(dir, { ...DEFAULTS, walFileSystem: fs });
    try {
      assert.equal(await wal.append(body('a')), 1);
      fs.arm('write', 'ENOSPC', Number.MAX_SAFE_INTEGER);
      for (const id of ['lost-1', 'lost-2']) {
        await assert.rejects(wal.append(body(id)), (e) => e instanceof VectorgateError && e.code === '53100' && NO_SPACE.test(e.message));
      }
      fs.disarm('write');
      assert.equal(await wal.append(body('b')), 2);
    } finally {
      await wal.close();
    }
    const reopened = await Wal.open(dir, DEFAULTS);
    try {
      assert.equal(reopened.lastSeq, 2);
    } finally {
      await reopened.close();
    }
  });
}

describe(asRoot ? 'a full disk (a real tmpfs)' : 'a full disk (injected ENOSPC: not root, so no tmpfs)', asRoot ? realFullDisk : injectedFullDisk);

// A data directory written before collections belonged to databases (catalog version 1) opens with its
// collections in the migration database and owner, their data searchable, the catalog rewritten as version 2.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeConfig } from '../../src/config.ts';
import { Collections } from '../../src/router/collections.ts';
import { randomVectors, rng } from '../engine/helpers/data.ts';
import { downgradeCatalogToVersion1 } from '../helpers/catalog-v1.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-migration-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('collections of a version-1 catalog keep their data and policies in the migration database', async () => {
  const dir = join(root, 'data');
  const random = rng(5);
  const rows = Array.from({ length: 120 }, (_, i) => ({ id: `doc-${i}`, vector: randomVectors(random, 1, 6), payload: { i } }));
  const before = await Collections.open(dir, makeConfig({ dataDir: dir, shardWorkers: 1 }));
  try {
    const db = before.in('vectorgate');
    await db.createCollection({ name: 'docs', dims: 6, shards: 2, owner: 'vectorgate' });
    await db.upsert('docs', rows);
    await db.setPolicy('docs', 'ef_search', '80');
  } finally {
    await before.close();
  }
  downgradeCatalogToVersion1(dir);

  const config = makeConfig({ dataDir: dir, shardWorkers: 1, catalogMigrationDatabase: 'legacy', catalogMigrationOwner: 'olduser' });
  let migrated = await Collections.open(dir, config);
  try {
    const written = JSON.parse(readFileSync(join(dir, 'catalog.json'), 'utf8')) as { version: number; collections: { name: string; database: string; owner: string }[] };
    assert.deepEqual([written.version, written.collections.map((e) => [e.name, e.database, e.owner])], [2, [['docs', 'legacy', 'olduser']]]);
    const legacy = migrated.in('legacy');
    assert.deepEqual([legacy.spec('docs')?.database, legacy.spec('docs')?.owner], ['legacy', 'olduser']);
    assert.deepEqual(legacy.policies('docs'), { ef_search: '80' });
    const hits = await legacy.search('docs', rows[17]!.vector, 3);
    assert.equal(hits[0]!.id, 'doc-17');
    assert.equal(hits[0]!.payload, '{"i":17}');
    assert.deepEqual(await legacy.usage('docs'), { vectors: 120, bytes: 120 * 6 * 4 + rows.reduce((n, r) => n + JSON.stringify(r.payload).length, 0) });
    assert.deepEqual(await migrated.usageOfOwner('olduser'), { collections: 1, ...(await legacy.usage('docs')) });

    // Once migrated, other migration settings change nothing.
    await migrated.close();
    migrated = await Collections.open(dir, makeConfig({ dataDir: dir, shardWorkers: 1, catalogMigrationDatabase: 'other', catalogMigrationOwner: 'other' }));
    const { collections, vectors } = await migrated.usageOfOwner('olduser');
    assert.deepEqual({ collections, vectors }, { collections: 1, vectors: 120 });
    assert.deepEqual(await migrated.usageOfOwner('other'), { collections: 0, vectors: 0, bytes: 0 });
  } finally {
    await migrated.close();
  }
});

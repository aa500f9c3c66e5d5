// `vectorgate start` on a data directory from before collections belonged to databases: its
// collections go to the database and role this start creates (credentials.json names them), so the
// printed URL finds them, searchable, and the catalog is rewritten as version 2 with that owner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeConfig } from '../../src/config.ts';
import { Collections } from '../../src/router/collections.ts';
import { downgradeCatalogToVersion1 } from '../helpers/catalog-v1.ts';
import { psql, startDataDir, startVectorgate, stopVectorgate } from './vectorgate-process.ts';

const { dataDir, children } = startDataDir('vectorgate-migrate-');

test('a version-1 catalog moves to the database and role vectorgate start creates', async () => {
  // Credentials of an earlier first start that chose other names than today's defaults.
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, 'credentials.json'), JSON.stringify({ superuserPassword: 'su-secret', user: 'olduser', password: 'old-secret', database: 'olddb' }), { mode: 0o600 });
  const vectors = join(dataDir, 'vectors');
  const made = await Collections.open(vectors, makeConfig({ dataDir: vectors, shardWorkers: 1 }));
  try {
    const db = made.in('anything');
    await db.createCollection({ name: 'docs', dims: 2, owner: 'anyone' });
    await db.upsert('docs', [{ id: 'near', vector: [1, 0], payload: { kept: true } }, { id: 'far', vector: [-1, 0] }]);
  } finally {
    await made.close();
  }
  downgradeCatalogToVersion1(vectors);

  const started = await startVectorgate(['--data-dir', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--log-level', 'warn'], {});
  children.push(started.child);
  assert.match(started.url, /\/olddb$/);
  // The start listens at once and recovers collections in the background: listed, vectors NULL until then.
  let listed = '';
  for (let i = 0; i < 100 && listed !== 'docs 2'; i++) {
    listed = await psql(started.url, `SELECT name || ' ' || coalesce(vectors::text, 'recovering') FROM vector_collections()`);
    if (listed !== 'docs 2') await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(listed, 'docs 2');
  assert.equal(await psql(started.url, `SELECT id || ' ' || coalesce(payload::text, '-') FROM vector_search('docs', '[1,0]', 1)`), 'near {"kept": true}');
  // The start made its relation, owned by the collection's owner, so GRANT and REVOKE work on it.
  assert.equal(await psql(started.url, `SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'vectorgate.docs'::regclass`), 'olduser');
  assert.equal(await psql(started.url, 'GRANT SELECT ON vectorgate.docs TO PUBLIC'), 'GRANT');
  assert.equal(await stopVectorgate(started.child), 0);

  const catalog = JSON.parse(readFileSync(join(vectors, 'catalog.json'), 'utf8')) as { version: number; collections: { name: string; database: string; owner: string }[] };
  assert.deepEqual([catalog.version, catalog.collections.map((c) => [c.name, c.database, c.owner])], [2, [['docs', 'olddb', 'olduser']]]);
});

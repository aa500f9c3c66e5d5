import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { VectorgateError } from '../../src/errors.ts';
import { Catalog, type NewCollection } from '../../src/storage/catalog.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-catalog-'));
after(() => rmSync(root, { recursive: true, force: true }));
const spec = (name: string, database = 'app', owner = 'alice'): NewCollection =>
  ({ name, dims: 3, metric: 'l2', shards: 2, replicas: 1, quantization: 'none', m: 16, efConstruction: 200, engine: 'usearch', database, owner });
const MIGRATION = { database: 'vectorgate', owner: 'vectorgate' };

test('catalog changes are durable, serialised, and orphan directories are removed on open', async () => {
  const dir = join(root, 'a');
  const catalog = await Catalog.open(dir, MIGRATION);
  const [a] = await Promise.all([catalog.add(spec('a')), catalog.add(spec('b'))]);
  await assert.rejects(catalog.add(spec('a')), (e) => e instanceof VectorgateError && e.code === '42710');
  await catalog.setPolicy('app', 'a', 'ef_search', '99');
  await assert.rejects(catalog.setPolicy('app', 'zz', 'ef_search', '1'), (e) => e instanceof VectorgateError && e.code === '42P01');
  mkdirSync(catalog.collectionDir(a!), { recursive: true });
  const dropped = await catalog.remove('app', 'b');
  mkdirSync(catalog.collectionDir(dropped), { recursive: true });
  const reopened = await Catalog.open(dir, MIGRATION);
  assert.deepEqual(reopened.list().map((e) => [e.name, e.policies]), [['a', { ef_search: '99' }]]);
  assert.ok(existsSync(reopened.collectionDir(reopened.get('app', 'a')!)));
  assert.ok(!existsSync(reopened.collectionDir(dropped)), 'a dropped collection left behind by a crash is removed');
});

test('an unreadable catalog refuses to start', async () => {
  const dir = join(root, 'b');
  mkdirSync(dir);
  writeFileSync(join(dir, 'catalog.json'), '{"version":2,"collections":[');
  await assert.rejects(Catalog.open(dir, MIGRATION), (e) => e instanceof VectorgateError && e.code === 'XX001');
});

test('a prepared entry is invisible until committed; its directory is removed on open if the commit never came', async () => {
  const dir = join(root, 'c');
  const catalog = await Catalog.open(dir, MIGRATION);
  const first = catalog.prepare(spec('x'));
  const second = catalog.prepare(spec('x'));
  assert.equal(catalog.get('app', 'x'), undefined);
  mkdirSync(catalog.collectionDir(first), { recursive: true });
  mkdirSync(catalog.collectionDir(second), { recursive: true });
  await catalog.commit(first);
  await assert.rejects(catalog.commit(second), (e) => e instanceof VectorgateError && e.code === '42710');
  assert.equal(catalog.get('app', 'x')?.dir, first.dir);
  const reopened = await Catalog.open(dir, MIGRATION);
  assert.ok(existsSync(reopened.collectionDir(first)));
  assert.ok(!existsSync(reopened.collectionDir(second)), 'the files of a collection whose catalog write never happened are removed');
});

test('a name is unique per database: the same name in two databases is two collections with their own directories', async () => {
  const dir = join(root, 'd');
  const catalog = await Catalog.open(dir, MIGRATION);
  const inApp = await catalog.add(spec('docs', 'app', 'alice'));
  const inShop = await catalog.add(spec('docs', 'shop', 'bob'));
  await catalog.add(spec('alpha', 'shop', 'bob'));
  await assert.rejects(catalog.add(spec('docs', 'shop', 'carol')), (e) => e instanceof VectorgateError && e.code === '42710');
  assert.notEqual(inApp.dir, inShop.dir);
  assert.equal(catalog.get('app', 'docs')?.owner, 'alice');
  assert.equal(catalog.get('shop', 'docs')?.owner, 'bob');
  assert.equal(catalog.get('other', 'docs'), undefined);
  assert.deepEqual(catalog.listIn('shop').map((e) => e.name), ['alpha', 'docs']);
  assert.deepEqual(catalog.list().map((e) => [e.database, e.name]), [['app', 'docs'], ['shop', 'alpha'], ['shop', 'docs']]);

  await catalog.setPolicy('shop', 'docs', 'ef_search', '77');
  await assert.rejects(catalog.remove('other', 'docs'), (e) => e instanceof VectorgateError && e.code === '42P01');
  await catalog.remove('app', 'docs');
  const reopened = await Catalog.open(dir, MIGRATION);
  assert.deepEqual(reopened.list().map((e) => [e.database, e.name, e.owner, e.policies]),
    [['shop', 'alpha', 'bob', {}], ['shop', 'docs', 'bob', { ef_search: '77' }]]);
});

test('a version-1 catalog opens with every collection in the migration database and owner, rewritten as version 2', async () => {
  const dir = join(root, 'e');
  mkdirSync(join(dir, 'collections', 'docs-1-a'), { recursive: true });
  mkdirSync(join(dir, 'collections', 'notes-2-b'), { recursive: true });
  const v1 = (name: string, dirName: string, policies: Record<string, string>) => ({
    name, dims: 3, metric: 'l2', shards: 2, quantization: 'none', m: 16, efConstruction: 200, engine: 'usearch',
    dir: dirName, createdAt: '2026-11-01T00:00:00.000Z', policies,
  });
  writeFileSync(join(dir, 'catalog.json'), JSON.stringify({ version: 1, collections: [v1('docs', 'docs-1-a', { ef_search: '50' }), v1('notes', 'notes-2-b', {})] }));

  const catalog = await Catalog.open(dir, { database: 'legacy', owner: 'olduser' });
  assert.deepEqual(catalog.list().map((e) => [e.database, e.name, e.owner, e.dir, e.policies]),
    [['legacy', 'docs', 'olduser', 'docs-1-a', { ef_search: '50' }], ['legacy', 'notes', 'olduser', 'notes-2-b', {}]]);
  assert.ok(existsSync(join(dir, 'collections', 'docs-1-a')), 'the data directories are kept');
  const written = JSON.parse(readFileSync(join(dir, 'catalog.json'), 'utf8')) as { version: number; collections: { database: string; owner: string }[] };
  assert.equal(written.version, 2, 'rewritten at open');
  assert.deepEqual(written.collections.map((e) => [e.database, e.owner]), [['legacy', 'olduser'], ['legacy', 'olduser']]);

  const reopened = await Catalog.open(dir, { database: 'elsewhere', owner: 'someone' });
  assert.equal(reopened.get('legacy', 'docs')?.owner, 'olduser', 'a version-2 catalog is not migrated again');
  assert.equal(reopened.get('elsewhere', 'docs'), undefined);
});

test('a version-2 entry without database or owner is refused as unreadable', async () => {
  const dir = join(root, 'f');
  mkdirSync(dir);
  writeFileSync(join(dir, 'catalog.json'), JSON.stringify({ version: 2, collections: [{ name: 'docs', dir: 'd', policies: {} }] }));
  await assert.rejects(Catalog.open(dir, MIGRATION), (e) => e instanceof VectorgateError && e.code === 'XX001' && /no database or owner/.test(e.message));
});

test('an entry written before replicas existed has one replica; a stored count is kept', async () => {
  const dir = join(root, 'g');
  mkdirSync(join(dir, 'collections', 'old-1'), { recursive: true });
  mkdirSync(join(dir, 'collections', 'new-1'), { recursive: true });
  const stored = (name: string, extra: Record<string, unknown>) => ({
    name, dims: 3, metric: 'l2', shards: 2, quantization: 'none', m: 16, efConstruction: 200, engine: 'usearch',
    database: 'app', owner: 'alice', dir: `${name}-1`, createdAt: '2026-11-01T00:00:00.000Z', policies: {}, ...extra,
  });
  writeFileSync(join(dir, 'catalog.json'), JSON.stringify({ version: 2, collections: [stored('old', {}), stored('new', { replicas: 3 })] }));
  const catalog = await Catalog.open(dir, MIGRATION);
  assert.equal(catalog.get('app', 'old')?.replicas, 1);
  assert.equal(catalog.get('app', 'new')?.replicas, 3);
  await catalog.close();
});

import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { VectorgateError } from '../../src/errors.ts';
import { Catalog, type CollectionSpec } from '../../src/storage/catalog.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-catalog-'));
after(() => rmSync(root, { recursive: true, force: true }));
const spec = (name: string): CollectionSpec => ({ name, dims: 3, metric: 'l2', shards: 2, quantization: 'none', m: 16, efConstruction: 200, engine: 'usearch' });

test('catalog changes are durable, serialised, and orphan directories are removed on open', async () => {
  const dir = join(root, 'a');
  const catalog = await Catalog.open(dir);
  const [a] = await Promise.all([catalog.add(spec('a')), catalog.add(spec('b'))]);
  await assert.rejects(catalog.add(spec('a')), (e) => e instanceof VectorgateError && e.code === '42710');
  await catalog.setPolicy('a', 'ef_search', '99');
  await assert.rejects(catalog.setPolicy('zz', 'ef_search', '1'), (e) => e instanceof VectorgateError && e.code === '42P01');
  mkdirSync(catalog.collectionDir(a!), { recursive: true });
  const dropped = await catalog.remove('b');
  mkdirSync(catalog.collectionDir(dropped), { recursive: true });
  const reopened = await Catalog.open(dir);
  assert.deepEqual(reopened.list().map((e) => [e.name, e.policies]), [['a', { ef_search: '99' }]]);
  assert.ok(existsSync(reopened.collectionDir(reopened.get('a')!)));
  assert.ok(!existsSync(reopened.collectionDir(dropped)), 'a dropped collection left behind by a crash is removed');
});

test('an unreadable catalog refuses to start', async () => {
  const dir = join(root, 'b');
  mkdirSync(dir);
  writeFileSync(join(dir, 'catalog.json'), '{"version":1,"collections":[');
  await assert.rejects(Catalog.open(dir), (e) => e instanceof VectorgateError && e.code === 'XX001');
});

test('a prepared entry is invisible until committed; its directory is removed on open if the commit never came', async () => {
  const dir = join(root, 'c');
  const catalog = await Catalog.open(dir);
  const first = catalog.prepare(spec('x'));
  const second = catalog.prepare(spec('x'));
  assert.equal(catalog.get('x'), undefined);
  mkdirSync(catalog.collectionDir(first), { recursive: true });
  mkdirSync(catalog.collectionDir(second), { recursive: true });
  await catalog.commit(first);
  await assert.rejects(catalog.commit(second), (e) => e instanceof VectorgateError && e.code === '42710');
  assert.equal(catalog.get('x')?.dir, first.dir);
  const reopened = await Catalog.open(dir);
  assert.ok(existsSync(reopened.collectionDir(first)));
  assert.ok(!existsSync(reopened.collectionDir(second)), 'the files of a collection whose catalog write never happened are removed');
});

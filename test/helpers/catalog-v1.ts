// A catalog as version 1 wrote it (before collections belonged to databases and had owners): the
// same entries without database and owner. Tests make data with today's code, then downgrade the file.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function downgradeCatalogToVersion1(dir: string): void {
  const file = join(dir, 'catalog.json');
  const { collections } = JSON.parse(readFileSync(file, 'utf8')) as { collections: Record<string, unknown>[] };
  const v1 = collections.map(({ database: _database, owner: _owner, ...entry }) => entry);
  writeFileSync(file, JSON.stringify({ version: 1, collections: v1 }, null, 1));
}

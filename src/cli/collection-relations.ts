// The embedded start is PostgreSQL's superuser, so it makes the relation vectorgate.<name> of every
// collection that has none: collections migrated from a catalog from before they were database
// objects, or one whose relation was dropped by hand. Each gets its catalog owner (when that role
// exists), so GRANT/REVOKE on it work from the first start on. A proxy in front of someone else's
// PostgreSQL cannot do this: there such a collection stays its owner's and superusers' only
// (src/sql/access-query.ts) until a superuser makes the relation.
import pg from 'pg';
import { CREATE_SCHEMA, createRelation, relationName } from '../sql/access-query.ts';
import type { Logger } from '../log.ts';

export interface CollectionOwner { database: string; name: string; owner: string }

export async function ensureRelations(connect: (database: string) => Promise<pg.Client>, collections: readonly CollectionOwner[], log: Logger): Promise<void> {
  const byDatabase = new Map<string, CollectionOwner[]>();
  for (const c of collections) byDatabase.set(c.database, [...(byDatabase.get(c.database) ?? []), c]);
  for (const [database, owned] of byDatabase) {
    let client: pg.Client;
    try {
      client = await connect(database);
    } catch (err) {
      log.warn({ database, err: (err as Error).message }, 'collections of a database that cannot be reached keep no relation');
      continue;
    }
    try {
      for (const sql of CREATE_SCHEMA) await client.query(sql);
      for (const c of owned) await ensureRelation(client, c, log);
    } finally {
      await client.end();
    }
  }
}

async function ensureRelation(client: pg.Client, c: CollectionOwner, log: Logger): Promise<void> {
  const exists = await client.query('SELECT pg_catalog.to_regclass($1) IS NOT NULL AS e', [relationName(c.name)]);
  if (exists.rows[0].e === true) return;
  for (const sql of createRelation(c.name)) await client.query(sql);
  const role = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [c.owner]);
  if (role.rowCount === 0) {
    log.warn({ collection: c.name, owner: c.owner }, 'the owner of a collection is no role: its relation stays the superuser\'s');
    return;
  }
  await client.query(`ALTER TABLE ${relationName(c.name)} OWNER TO ${client.escapeIdentifier(c.owner)}`);
  log.info({ database: c.database, collection: c.name, owner: c.owner }, 'made the relation of a collection');
}

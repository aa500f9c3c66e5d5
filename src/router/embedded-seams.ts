// Builds the embedded default's three seams: the catalog file in dataDir, shard replicas on the
// proxy's thread or on worker_threads (config shardHost) over local WALs, and writes through each collection's decision log. The one place
// (besides the cli's cluster deployment) that names their concrete classes.
import type { Config } from '../config.ts';
import { Catalog } from '../storage/catalog.ts';
import { LocalWritePath } from './local-write-path.ts';
import { ThreadTransport } from './thread-transport.ts';
import { InProcessTransport } from './inprocess-transport.ts';
import type { CollectionSeams } from './collection-store.ts';

/** Opens the catalog in dataDir (migrating a version-1 one) and the shard host (threads start now). */
export async function openEmbeddedSeams(dataDir: string, config: Config): Promise<CollectionSeams> {
  const catalog = await Catalog.open(dataDir, { database: config.catalogMigrationDatabase, owner: config.catalogMigrationOwner });
  let writes: LocalWritePath | undefined;
  // A restarted thread reopens its shards with the commits their decision log holds by then.
  const transport = config.shardHost === 'inline'
    ? new InProcessTransport(config)
    : new ThreadTransport(config, { committedOf: (shard) => writes!.committedOf(shard) });
  writes = new LocalWritePath(config, transport);
  return { catalog, transport, writes };
}

// The embedded default's shard log: the segmented write-ahead log in <shard dir>/wal on local disk.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import type { ShardLog } from '../storage/shard-log.ts';
import { Wal } from '../storage/wal.ts';

/** Opens (or creates) the local WAL of the shard replica in shardDir. */
export async function openLocalLog(shardDir: string, config: Config): Promise<ShardLog> {
  mkdirSync(join(shardDir, 'wal'), { recursive: true });
  return Wal.open(join(shardDir, 'wal'), config);
}

// Durable file helpers: the rename-based atomic write that snapshots and the catalog use. Their
// failures carry SQLSTATEs (53100 for a full disk, see errors.ts fileSystemError).
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileSystemError } from '../errors.ts';

export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try { await handle.sync(); } finally { await handle.close(); }
}

/** The directory entry of a created, renamed or removed file is durable only once its directory is. */
export async function fsyncDir(dir: string): Promise<void> {
  await fsyncPath(dir);
}

/**
 * Writes `data` to `path` so that a crash leaves either the old file or the new one, never a mix. On
 * failure (e.g. a full disk) the temp file is removed and `path` is unchanged.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const temp = `${path}.tmp`;
  try {
    await writeDurably(temp, data);
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw fileSystemError(err, 'write to file', temp);
  }
  try {
    await fsyncDir(dirname(path));
  } catch (err) {
    throw fileSystemError(err, 'fsync directory', dirname(path));
  }
}

export async function removeIfExists(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

/** Writes a whole file and fsyncs it before closing (the temp files of atomic writes and snapshots). */
export async function writeDurably(path: string, data: Uint8Array | string): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

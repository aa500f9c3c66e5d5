// Snapshot directories, written atomically: files go to a temp directory, are fsync'd with a manifest
// of their sizes and CRC32Cs, the directory is fsync'd and renamed to its sequence number, and the
// parent is fsync'd. A crash leaves either a complete snapshot or a temp directory that the next
// open removes. The newest `keep` snapshots are kept, so a damaged newest one falls back to the one
// before it (the log is truncated only before the oldest kept snapshot).
import { crc32c } from '@node-rs/crc32';
import { mkdirSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileSystemError, VectorgateError } from '../errors.ts';
import { fsyncDir, fsyncPath, writeDurably } from './fsync.ts';

export const SNAPSHOTS_DIR = 'snapshots';
const MANIFEST = 'manifest.json';
const NAME = /^\d{20}$/;
let tempCounter = 0;

export interface SnapshotRef { seq: number; dir: string }

export interface Capture {
  /** The last sequence number the captured state covers. */
  seq: number;
  /** Files to write besides those the capture already wrote into the directory. */
  buffers: Record<string, Uint8Array>;
}

/**
 * `capture` runs synchronously with an empty temp directory, so the state it saves is the state at one
 * sequence number even while the shard keeps applying records during the asynchronous rest. A failure
 * (53100 when the disk is full) removes the temp directory, so a full disk is not kept full by it.
 */
export async function writeSnapshot(root: string, capture: (tempDir: string) => Capture, keep = 2): Promise<SnapshotRef> {
  const parent = join(root, SNAPSHOTS_DIR);
  const temp = join(parent, `.tmp-${process.pid}-${tempCounter++}`);
  let final: string;
  let seq: number;
  try {
    mkdirSync(parent, { recursive: true });
    rmSync(temp, { recursive: true, force: true });
    mkdirSync(temp);
    ({ seq } = await writeTemp(temp, capture));
    final = join(parent, String(seq).padStart(20, '0'));
    await rm(final, { recursive: true, force: true });
    await rename(temp, final);
  } catch (err) {
    const error = snapshotError(err, temp);
    rmSync(temp, { recursive: true, force: true });
    throw error;
  }
  await durably('fsync directory', parent, () => fsyncDir(parent));
  await prune(parent, keep);
  return { seq, dir: final };
}

/** Fills `temp` with the captured files and their manifest, each fsync'd, and fsyncs it. */
async function writeTemp(temp: string, capture: (tempDir: string) => Capture): Promise<Capture> {
  const captured = capture(temp);
  for (const [name, data] of Object.entries(captured.buffers)) await writeDurably(join(temp, name), data);
  const manifest: Record<string, { bytes: number; crc32c: number }> = {};
  for (const name of (await readdir(temp)).sort()) {
    const data = await readFile(join(temp, name));
    manifest[name] = { bytes: data.length, crc32c: crc32c(data) };
    await fsyncPath(join(temp, name));
  }
  await writeDurably(join(temp, MANIFEST), JSON.stringify({ seq: captured.seq, files: manifest }));
  await fsyncDir(temp);
  return captured;
}

/**
 * An index adapter's native save reports a full disk without an errno code; the file system's free
 * space (read before the temp directory is removed) tells that case apart from other failures.
 */
function snapshotError(err: unknown, temp: string): VectorgateError {
  if (err instanceof VectorgateError) return err;
  if ((err as NodeJS.ErrnoException).code !== undefined) {
    return fileSystemError(err, 'write snapshot file', (err as NodeJS.ErrnoException).path ?? temp);
  }
  let full = false;
  try { full = statfsSync(dirname(temp)).bavail === 0; } catch { full = false; }
  const cause = Object.assign(new Error(err instanceof Error ? err.message : String(err), { cause: err }), full ? { code: 'ENOSPC' } : {});
  return fileSystemError(cause, 'write snapshot into', temp);
}

async function durably(action: string, path: string, operation: () => Promise<void>): Promise<void> {
  try { await operation(); } catch (err) { throw fileSystemError(err, action, path); }
}


async function prune(parent: string, keep: number): Promise<void> {
  const names = (await readdir(parent)).filter((n) => NAME.test(n)).sort();
  for (const name of names.slice(0, Math.max(0, names.length - keep))) await rm(join(parent, name), { recursive: true, force: true });
  await durably('fsync directory', parent, () => fsyncDir(parent));
}

/** Complete snapshots, newest first; leftover temp directories of crashed writes are removed. */
export function listSnapshots(root: string): SnapshotRef[] {
  const parent = join(root, SNAPSHOTS_DIR);
  let names: string[];
  try { names = readdirSync(parent); } catch { return []; }
  for (const name of names) if (name.startsWith('.tmp-')) rmSync(join(parent, name), { recursive: true, force: true });
  return names.filter((n) => NAME.test(n)).sort().reverse().map((n) => ({ seq: Number(n), dir: join(parent, n) }));
}

/** Throws unless every file of the manifest is present with its size and checksum. */
export async function verifySnapshot(ref: SnapshotRef): Promise<void> {
  const manifest = JSON.parse(await readFile(join(ref.dir, MANIFEST), 'utf8')) as { seq: number; files: Record<string, { bytes: number; crc32c: number }> };
  if (manifest.seq !== ref.seq) throw new Error(`snapshot ${ref.dir} says it covers ${manifest.seq}`);
  for (const [name, want] of Object.entries(manifest.files)) {
    const path = join(ref.dir, name);
    if ((await stat(path)).size !== want.bytes) throw new Error(`snapshot file ${path} has the wrong size`);
    if (crc32c(await readFile(path)) !== want.crc32c) throw new Error(`snapshot file ${path} has a bad checksum`);
  }
}

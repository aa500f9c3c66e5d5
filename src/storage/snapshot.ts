// Snapshot directories, written atomically: files go to a temp directory, are fsync'd with a manifest
// of their sizes and CRC32Cs, the directory is fsync'd and renamed to its sequence number, and the
// parent is fsync'd. A crash leaves either a complete snapshot or a temp directory that the next
// open removes. The newest `keep` snapshots are kept, so a damaged newest one falls back to the one
// before it (the log is truncated only before the oldest kept snapshot).
import { crc32c } from '@node-rs/crc32';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, fsyncPath } from './fsync.ts';

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
 * sequence number even while the shard keeps applying records during the asynchronous rest.
 */
export async function writeSnapshot(root: string, capture: (tempDir: string) => Capture, keep = 2): Promise<SnapshotRef> {
  const parent = join(root, SNAPSHOTS_DIR);
  mkdirSync(parent, { recursive: true });
  const temp = join(parent, `.tmp-${process.pid}-${tempCounter++}`);
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp);
  const { seq, buffers } = capture(temp);
  for (const [name, data] of Object.entries(buffers)) await writeDurably(join(temp, name), data);
  const manifest: Record<string, { bytes: number; crc32c: number }> = {};
  for (const name of (await readdir(temp)).sort()) {
    const data = await readFile(join(temp, name));
    manifest[name] = { bytes: data.length, crc32c: crc32c(data) };
    await fsyncPath(join(temp, name));
  }
  await writeDurably(join(temp, MANIFEST), JSON.stringify({ seq, files: manifest }));
  await fsyncDir(temp);
  const final = join(parent, String(seq).padStart(20, '0'));
  await rm(final, { recursive: true, force: true });
  await rename(temp, final);
  await fsyncDir(parent);
  await prune(parent, keep);
  return { seq, dir: final };
}

async function writeDurably(path: string, data: Uint8Array | string): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function prune(parent: string, keep: number): Promise<void> {
  const names = (await readdir(parent)).filter((n) => NAME.test(n)).sort();
  for (const name of names.slice(0, Math.max(0, names.length - keep))) await rm(join(parent, name), { recursive: true, force: true });
  await fsyncDir(parent);
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

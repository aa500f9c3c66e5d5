// The file operations the write-ahead log performs, behind one small interface so that tests can make
// any single one of them fail (an fsync failure cannot be caused for real). `nodeWalFileSystem` is the
// real thing and the default.
import { open, readdir, readFile, rm, truncate } from 'node:fs/promises';
import { fsyncDir, fsyncPath } from './fsync.ts';

/** An open segment file, appended to only. */
export interface WalFile {
  write(data: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }>;
  /** fdatasync(2): the written bytes and the file size are durable when it resolves. */
  datasync(): Promise<void>;
  close(): Promise<void>;
}

export interface WalFileSystem {
  /** Opens `path` for appending, creating it if missing. */
  openAppend(path: string): Promise<WalFile>;
  readdir(dir: string): Promise<string[]>;
  readFile(path: string): Promise<Buffer>;
  truncate(path: string, bytes: number): Promise<void>;
  /** fsync(2) of a file by path. */
  fsyncFile(path: string): Promise<void>;
  /** fsync(2) of a directory, so that created, renamed and removed entries are durable. */
  fsyncDir(dir: string): Promise<void>;
  remove(path: string): Promise<void>;
}

export const nodeWalFileSystem: WalFileSystem = {
  openAppend: (path) => open(path, 'a'),
  readdir: (dir) => readdir(dir),
  readFile: (path) => readFile(path),
  truncate: (path, bytes) => truncate(path, bytes),
  fsyncFile: fsyncPath,
  fsyncDir,
  remove: (path) => rm(path, { force: true }),
};

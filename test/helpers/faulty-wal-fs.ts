// A WalFileSystem for tests: the real file system, except for the failures a test arms. It stands in
// for faults that cannot be caused for real (a failed fsync) or, without root, a full disk.
import type { WalFile, WalFileSystem } from '../../src/storage/wal.ts';
import { nodeWalFileSystem } from '../../src/storage/wal-fs.ts';

export type Operation = 'write' | 'datasync' | 'openAppend' | 'fsyncFile' | 'fsyncDir';

/** The real file system, except that an armed operation fails its next `times` calls with `code`. */
export class FaultyFileSystem implements WalFileSystem {
  readonly #armed = new Map<Operation, { code: string; times: number }>();

  arm(operation: Operation, code: string, times = 1): void {
    this.#armed.set(operation, { code, times });
  }

  disarm(operation: Operation): void {
    this.#armed.delete(operation);
  }

  /** Throws the armed error for `operation`, if any calls are left to fail. */
  check(operation: Operation): void {
    const fault = this.#armed.get(operation);
    if (fault === undefined || fault.times === 0) return;
    fault.times--;
    throw Object.assign(new Error(`${fault.code}: injected failure, ${operation}`), { code: fault.code });
  }

  async openAppend(path: string): Promise<WalFile> {
    this.check('openAppend');
    const file = await nodeWalFileSystem.openAppend(path);
    return {
      write: async (data, offset, length) => {
        try {
          this.check('write');
        } catch (err) {
          // A torn write: part of the data reaches the file before the failure, as with ENOSPC.
          await file.write(data, offset, Math.ceil(length / 2));
          throw err;
        }
        return file.write(data, offset, length);
      },
      datasync: async () => { this.check('datasync'); await file.datasync(); },
      close: () => file.close(),
    };
  }

  readdir = nodeWalFileSystem.readdir;
  readFile = nodeWalFileSystem.readFile;
  truncate = nodeWalFileSystem.truncate;
  remove = nodeWalFileSystem.remove;
  async fsyncFile(path: string): Promise<void> { this.check('fsyncFile'); await nodeWalFileSystem.fsyncFile(path); }
  async fsyncDir(dir: string): Promise<void> { this.check('fsyncDir'); await nodeWalFileSystem.fsyncDir(dir); }
}

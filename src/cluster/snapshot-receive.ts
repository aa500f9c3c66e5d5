// The receiving end of a snapshot transfer: files go into a temp directory beside the shard's
// snapshots, each fsync'd; once the end message arrives the sizes are checked against it, the
// snapshot's manifest (sizes, CRC32Cs, seq) is verified, the directory is fsync'd, renamed to its seq
// and the parent fsync'd: the same layout and crash rules as a local snapshot (storage/snapshot.ts).
// Any failure removes the temp directory.
import { mkdir, open, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { fileSystemError, SqlState, VectorgateError } from '../errors.ts';
import { fromWire } from '../router/worker-protocol.ts';
import { fsyncDir } from '../storage/fsync.ts';
import { SNAPSHOTS_DIR, verifySnapshot, type SnapshotRef } from '../storage/snapshot.ts';
import type { SnapshotMessage } from './snapshot-stream.ts';
import { malformed } from './worker-frame.ts';

let tempCounter = 0;

interface OpenFile { name: string; handle: FileHandle; bytes: number }

export async function receiveSnapshot(messages: AsyncIterable<SnapshotMessage>, intoDir: string, config: Config, from: string): Promise<SnapshotRef> {
  const parent = join(intoDir, SNAPSHOTS_DIR);
  const temp = join(parent, `.tmp-${process.pid}-recv-${tempCounter++}`);
  try {
    await mkdir(parent, { recursive: true });
    await rm(temp, { recursive: true, force: true });
    await mkdir(temp);
    const { seq } = await writeFiles(messages, temp, config, from);
    await verifySnapshot({ seq, dir: temp }).catch((err: unknown) => {
      throw new VectorgateError(SqlState.DataCorrupted, `snapshot from worker ${from} does not verify: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    });
    await fsyncDir(temp);
    const final = join(parent, String(seq).padStart(20, '0'));
    await rm(final, { recursive: true, force: true });
    await rename(temp, final);
    await fsyncDir(parent);
    return { seq, dir: final };
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    if (err instanceof VectorgateError) throw err;
    throw fileSystemError(err, 'write received snapshot into', temp);
  }
}

async function writeFiles(messages: AsyncIterable<SnapshotMessage>, temp: string, config: Config, from: string): Promise<{ seq: number }> {
  const written = new Map<string, number>();
  let current: OpenFile | null = null;
  let total = 0;
  try {
    for await (const message of messages) {
      if (message.kind === 'error') throw fromWire(message.error);
      if (current !== null && (message.kind === 'end' || current.name !== message.name)) {
        const done: OpenFile = current;
        current = null;
        written.set(done.name, await finish(done));
      }
      if (message.kind === 'end') {
        checkDeclared(message.files, written);
        return { seq: message.seq };
      }
      if (current === null) {
        if (written.has(message.name)) throw malformed(`snapshot file ${message.name} arrived twice`);
        if (written.size >= config.grpcSnapshotMaxFiles) throw limit(`more than ${config.grpcSnapshotMaxFiles} files (grpcSnapshotMaxFiles)`);
        current = { name: message.name, handle: await open(join(temp, message.name), 'wx'), bytes: 0 };
      }
      if (message.offset !== current.bytes) throw malformed(`snapshot file ${message.name}: chunk at ${message.offset}, expected ${current.bytes}`);
      total += message.data.length;
      if (total > config.grpcSnapshotMaxBytes) throw limit(`more than ${config.grpcSnapshotMaxBytes} bytes (grpcSnapshotMaxBytes)`);
      await current.handle.write(message.data);
      current.bytes += message.data.length;
    }
  } finally {
    await current?.handle.close();
  }
  throw new VectorgateError(SqlState.ConnectionFailure, `snapshot stream from worker ${from} ended before its end message`);
}

async function finish(file: OpenFile): Promise<number> {
  try { await file.handle.sync(); } finally { await file.handle.close(); }
  return file.bytes;
}

function checkDeclared(declared: Record<string, number>, written: Map<string, number>): void {
  const names = new Set([...Object.keys(declared), ...written.keys()]);
  for (const name of names) {
    if (declared[name] !== written.get(name)) {
      throw malformed(`snapshot file ${name}: ${written.get(name) ?? 'no'} bytes received, ${declared[name] ?? 'none'} declared`);
    }
  }
}

function limit(what: string): VectorgateError {
  return new VectorgateError(SqlState.ProgramLimitExceeded, `snapshot transfer refused: ${what}`);
}

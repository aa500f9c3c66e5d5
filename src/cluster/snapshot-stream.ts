// The messages of vectorgate.Worker/Snapshot: a request { shard }, then per file of the shard's newest
// snapshot its chunks (name, offset, bytes) in order, then an end message with the seq the snapshot
// covers and each file's size; a failure is one error frame instead. The snapshot's own manifest
// (sizes and CRC32Cs, storage/snapshot.ts) travels as one of its files, so the receiver verifies
// what it got with the same check a local open uses.
import type { WireError } from '../router/worker-protocol.ts';
import { Fields } from './frame-fields.ts';
import { decodeReply, encodeError, expectKind } from './worker-codec.ts';
import { decodeFrame, encodeFrame, FrameKind, malformed, type FrameLimits } from './worker-frame.ts';

export type SnapshotMessage =
  | { kind: 'chunk'; name: string; offset: number; data: Buffer }
  | { kind: 'end'; seq: number; files: Record<string, number> }
  | { kind: 'error'; error: WireError };

/** A snapshot file's name: one path component, no dot files (nothing can escape the target directory). */
const FILE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;

export function checkFileName(name: string): string {
  if (!FILE_NAME.test(name)) throw malformed(`snapshot file name ${JSON.stringify(name)} is not a plain file name`);
  return name;
}

export function encodeSnapshotRequest(shard: string, limits: FrameLimits): Buffer {
  return encodeFrame({ kind: FrameKind.Request, fields: { shard }, blobs: [] }, limits);
}

export function decodeSnapshotRequest(data: Buffer, limits: FrameLimits): string {
  return Fields.of(expectKind(decodeFrame(data, limits), FrameKind.Request).fields, 'snapshot request').str('shard');
}

export function encodeChunk(name: string, offset: number, data: Buffer, limits: FrameLimits): Buffer {
  return encodeFrame({ kind: FrameKind.SnapshotChunk, fields: { name, offset }, blobs: [data] }, limits);
}

export function encodeEnd(seq: number, files: Record<string, number>, limits: FrameLimits): Buffer {
  return encodeFrame({ kind: FrameKind.SnapshotEnd, fields: { seq, files }, blobs: [] }, limits);
}

export function encodeSnapshotError(error: WireError, limits: FrameLimits): Buffer {
  return encodeError(error, limits);
}

export function decodeSnapshotMessage(data: Buffer, limits: FrameLimits): SnapshotMessage {
  const frame = decodeFrame(data, limits);
  if (frame.kind === FrameKind.Error) {
    const reply = decodeReply('snapshot', data, limits);
    if (!reply.ok) return { kind: 'error', error: reply.error };
  }
  if (frame.kind === FrameKind.SnapshotChunk) {
    const f = Fields.of(frame.fields, 'snapshot chunk');
    const blob = frame.blobs[0];
    if (blob === undefined || frame.blobs.length !== 1) throw malformed('snapshot chunk carries no data');
    return { kind: 'chunk', name: checkFileName(f.str('name')), offset: f.count('offset'), data: blob };
  }
  const f = Fields.of(expectKind(frame, FrameKind.SnapshotEnd).fields, 'snapshot end');
  const declared = f.obj('files');
  const files: Record<string, number> = {};
  for (const name of Object.keys(f.raw('files') as object)) files[checkFileName(name)] = declared.count(name);
  return { kind: 'end', seq: f.count('seq'), files };
}

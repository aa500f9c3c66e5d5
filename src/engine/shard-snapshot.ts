// A shard's snapshot content: the vector index file (written by its adapter) and state.bin with every
// row (slot, id, payload JSON, float32 vector) and the last applied sequence number. Slots are kept,
// because they are the labels inside the saved index.
//   state.bin = [magic "VGSTATE1"][u64 lastApplied][u32 dims][u32 rows] then per row
//               [u32 slot][u16 id length][id][u32 payload length or 0xffffffff][payload][f32 × dims]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Capture } from '../storage/snapshot.ts';
import { loadIndex } from './index-factory.ts';
import { RowStore } from './rows.ts';
import { parsePayload, Shard, type ShardLimits } from './shard.ts';
import type { IndexSpec } from './vector-index.ts';

const MAGIC = 'VGSTATE1';
export const INDEX_FILE = 'index.bin';
export const STATE_FILE = 'state.bin';

/** Synchronous, so that index and rows are taken at the same sequence number; indexes every stored row first. */
export function captureShard(shard: Shard, dir: string): Capture {
  shard.indexPending();
  shard.index.save(join(dir, INDEX_FILE));
  return { seq: shard.lastApplied, buffers: { [STATE_FILE]: encodeState(shard) } };
}

function encodeState(shard: Shard): Buffer {
  const { rows } = shard;
  const parts: Buffer[] = [];
  const head = Buffer.alloc(24);
  head.write(MAGIC, 0, 'latin1');
  head.writeBigUInt64LE(BigInt(shard.lastApplied), 8);
  head.writeUInt32LE(rows.dims, 16);
  head.writeUInt32LE(rows.count, 20);
  parts.push(head);
  for (const slot of rows.slots()) {
    const id = Buffer.from(rows.idAt(slot)!, 'utf8');
    const payload = rows.payloadAt(slot);
    const payloadBytes = payload === null ? null : Buffer.from(JSON.stringify(payload), 'utf8');
    const fixed = Buffer.alloc(10 + id.length);
    fixed.writeUInt32LE(slot, 0);
    fixed.writeUInt16LE(id.length, 4);
    id.copy(fixed, 6);
    fixed.writeUInt32LE(payloadBytes === null ? 0xffff_ffff : payloadBytes.length, 6 + id.length);
    parts.push(fixed);
    if (payloadBytes !== null) parts.push(payloadBytes);
    parts.push(Buffer.from(Float32Array.from(rows.vectorAt(slot)).buffer));
  }
  return Buffer.concat(parts);
}

export function restoreShard(spec: IndexSpec, limits: ShardLimits, dir: string): Shard {
  const buf = readFileSync(join(dir, STATE_FILE));
  if (buf.toString('latin1', 0, 8) !== MAGIC) throw new Error(`${dir}/${STATE_FILE} is not a shard state file`);
  const lastApplied = Number(buf.readBigUInt64LE(8));
  const dims = buf.readUInt32LE(16);
  const count = buf.readUInt32LE(20);
  if (dims !== spec.dims) throw new Error(`snapshot ${dir} has ${dims} dimensions, the collection ${spec.dims}`);
  const rows = new RowStore(dims);
  let at = 24;
  for (let i = 0; i < count; i++) {
    const slot = buf.readUInt32LE(at);
    const idLength = buf.readUInt16LE(at + 4);
    const id = buf.toString('utf8', at + 6, at + 6 + idLength);
    at += 6 + idLength;
    const payloadLength = buf.readUInt32LE(at);
    at += 4;
    let payload = null;
    if (payloadLength !== 0xffff_ffff) {
      payload = parsePayload(buf.toString('utf8', at, at + payloadLength), Infinity);
      at += payloadLength;
    }
    const vector = new Float32Array(dims);
    Buffer.from(vector.buffer).set(buf.subarray(at, at + 4 * dims));
    at += 4 * dims;
    rows.insert(id, vector, payload, payload === null ? 0 : payloadLength, slot);
  }
  if (at !== buf.length) throw new Error(`${dir}/${STATE_FILE} has ${buf.length - at} trailing bytes`);
  rows.collectFreeSlots();
  // Read, not mapped: a mapping lives until its Index object is garbage-collected, so a closed or
  // dropped shard would keep its file (and file system) busy; a read of 100k rows takes ~0.1 s.
  const index = loadIndex(spec, join(dir, INDEX_FILE), { mmap: false });
  if (index.size() !== rows.count) throw new Error(`snapshot ${dir}: index has ${index.size()} rows, state ${rows.count}`);
  return new Shard(spec, limits, index, rows, lastApplied);
}

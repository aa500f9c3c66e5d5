// etcd's own rate for the cluster's write shape, with no proxy in front: the raw guarded transaction
// the proxies send (issue 10, "Records in etcd") —
//   If(value(next_i) == expected_i, or createRevision == 0 while absent) Then(Put r/<seq> …; Put next_i)
// — from `writers` concurrent writers, each on shard logs of its own (no contention: the upper bound),
// every transaction holding the same number of parts and records of the same size as measured.
import { randomBytes } from 'node:crypto';
import type { IRequestOp } from 'etcd3';
import type { EtcdConnection } from '../../src/storage/etcd-client.ts';
import { encodeEtcdRecord, ETCD_RECORD_HEADER_BYTES, recordKeySuffix } from '../../src/storage/etcd-record.ts';

export interface TxnShape {
  /** Shard parts per transaction. */
  parts: number;
  /** Records per part. */
  recordsPerPart: number;
  /** Bytes of one record value (header included). */
  recordBytes: number;
}

export interface RawResult { txns: number; seconds: number; bytes: number }

export async function rawGuardedAppends(conn: EtcdConnection, prefix: string, writers: number, txnsPerWriter: number, shape: TxnShape): Promise<RawResult> {
  const body = randomBytes(Math.max(1, shape.recordBytes - ETCD_RECORD_HEADER_BYTES));
  let bytes = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    const logs = Array.from({ length: shape.parts }, (_, p) => `${prefix}log/raw-${w}/${p}/`);
    const next = logs.map(() => 1);
    for (let t = 0; t < txnsPerWriter; t++) {
      const requestId = randomBytes(16);
      const success: IRequestOp[] = [];
      logs.forEach((log, i) => {
        for (let r = 0; r < shape.recordsPerPart; r++) {
          const value = encodeEtcdRecord(next[i]! + r, requestId, body);
          bytes += value.length;
          success.push({ request_put: { key: Buffer.from(`${log}${recordKeySuffix(next[i]! + r)}`), value } });
        }
        success.push({ request_put: { key: Buffer.from(`${log}next`), value: Buffer.from(String(next[i]! + shape.recordsPerPart)) } });
      });
      const res = await conn.client.kv.txn({
        compare: logs.map((log, i) => (next[i] === 1
          ? { key: Buffer.from(`${log}next`), target: 'Create' as const, result: 'Equal' as const, create_revision: 0 }
          : { key: Buffer.from(`${log}next`), target: 'Value' as const, result: 'Equal' as const, value: Buffer.from(String(next[i])) })),
        success,
        failure: [],
      });
      if (!res.succeeded) throw new Error(`raw append of writer ${w} lost its guard: nobody else writes its logs`);
      for (let i = 0; i < next.length; i++) next[i]! += shape.recordsPerPart;
    }
  }));
  return { txns: writers * txnsPerWriter, seconds: (performance.now() - started) / 1000, bytes };
}

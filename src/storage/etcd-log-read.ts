// Keys of one shard's log in etcd and the paged range reads that replay, records() and the tail share.
// Layout (docs/architecture.md, "etcd log"): <prefix>log/<dir>/<shard>/next (next seq to write,
// decimal text, absent = 1), …/first (lowest seq held, absent = 1), …/r/<seq, 20 digits> (records).
import type { Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { isCompacted, withDeadline, type EtcdConnection } from './etcd-client.ts';
import { decodeEtcdRecord, ETCD_RECORD_HEADER_BYTES, recordKeySuffix, type EtcdRecord } from './etcd-record.ts';

export type EtcdLogSettings = Pick<Config,
  'etcdPrefix' | 'etcdCallTimeoutMs' | 'etcdWriteTimeoutMs' | 'etcdRecordMaxBytes' | 'etcdTxnMaxBytes' | 'etcdAppendMaxRetries' |
  'etcdTailPageBytes' | 'etcdTailCheckMs' | 'etcdQuotaBytes' | 'etcdMaxDbFraction' | 'etcdMaxReceiveBytes' | 'etcdDbSizeCacheMs' |
  'etcdMaxPendingAppends' | 'etcdNextCacheEntries'>;

export interface LogKeys {
  /** "<dir>/<shard>", as error messages name the log. */
  readonly log: string;
  readonly next: Buffer;
  readonly first: Buffer;
  /** Start of the r/ range (every record key is ≥ it) and its exclusive end. */
  readonly recordsStart: Buffer;
  readonly recordsEnd: Buffer;
  record(seq: number): Buffer;
}

export function logKeys(prefix: string, log: string): LogKeys {
  if (!/^[^/]+\/\d+$/.test(log)) throw new RangeError(`a log is named "<dir>/<shard>", not "${log}"`);
  const base = `${prefix}log/${log}/`;
  return {
    log,
    next: Buffer.from(`${base}next`),
    first: Buffer.from(`${base}first`),
    recordsStart: Buffer.from(`${base}r/`),
    // '0' is the byte after '/': the end of the r/ prefix.
    recordsEnd: Buffer.from(`${base}r0`),
    record: (seq) => Buffer.from(base + recordKeySuffix(seq)),
  };
}

/** A decimal counter key's value (next, first); absent = 1. */
export function counterValue(value: Buffer | undefined, key: Buffer): number {
  if (value === undefined) return 1;
  const n = Number(value.toString('latin1'));
  if (!Number.isSafeInteger(n) || n < 1) throw new VectorgateError(SqlState.DataCorrupted, `etcd key "${key.toString()}" holds "${value.toString('latin1')}", not a sequence number`);
  return n;
}

/** Reads next and first in one linearizable round trip. */
export async function readCounters(conn: EtcdConnection, keys: LogKeys, timeoutMs: number): Promise<{ next: number; first: number; revision: string }> {
  const res = await withDeadline(conn, timeoutMs, `read log ${keys.log}`, (options) => conn.client.kv.txn({
    success: [{ request_range: { key: keys.next } }, { request_range: { key: keys.first } }],
  }, options));
  const [next, first] = res.responses.map((r) => r.response_range.kvs[0]?.value);
  return { next: counterValue(next, keys.next), first: counterValue(first, keys.first), revision: res.header.revision };
}

export interface RecordPage { records: EtcdRecord[]; valueBytes: number; revision: string; more: boolean }

/**
 * The records from fromSeq (up to toSeq when given), page by page, all pages at the revision of the
 * first one (a consistent view even while writers append; after a compaction of it, at a newer one). Records come in seq order; a missing seq
 * in the middle is XX001. The first record may come after fromSeq when the log was truncated past it:
 * callers that need fromSeq itself check the first record's seq.
 */
export async function* readRecordPages(conn: EtcdConnection, keys: LogKeys, settings: EtcdLogSettings, fromSeq: number, toSeq: number | null): AsyncGenerator<RecordPage> {
  let from = fromSeq;
  let revision: string | undefined;
  let expected: number | null = null;
  let limit = pageLimit(settings, settings.etcdRecordMaxBytes);
  for (;;) {
    if (toSeq !== null && from > toSeq) return;
    const res = await readPage(conn, keys, from, toSeq, limit, revision, settings.etcdCallTimeoutMs).catch((err: unknown) => {
      // etcd compacted the revision of the earlier pages: the rest is read at the newest revision
      // (it holds every record the earlier pages did not); the caller watches from the last page's.
      if (revision === undefined || !isCompacted(err)) throw err;
      revision = undefined;
      return readPage(conn, keys, from, toSeq, limit, undefined, settings.etcdCallTimeoutMs);
    });
    revision ??= res.header.revision;
    const records = res.kvs.map((kv) => decodeEtcdRecord(kv.key.toString('latin1'), kv.value));
    let valueBytes = 0;
    for (const [i, record] of records.entries()) {
      if (expected !== null && record.seq !== expected) {
        throw new VectorgateError(SqlState.DataCorrupted, `etcd log ${keys.log} has no record ${expected} before record ${record.seq}`);
      }
      expected = record.seq + 1;
      valueBytes += res.kvs[i]!.value.length;
    }
    const last = records.at(-1);
    yield { records, valueBytes, revision, more: res.more };
    if (!res.more || last === undefined) return;
    from = last.seq + 1;
    limit = pageLimit(settings, valueBytes / records.length);
  }
}

function readPage(conn: EtcdConnection, keys: LogKeys, from: number, toSeq: number | null, limit: number, revision: string | undefined, timeoutMs: number) {
  return withDeadline(conn, timeoutMs, `read log ${keys.log}`, (options) => conn.client.kv.range({
    key: keys.record(from), range_end: toSeq === null ? keys.recordsEnd : keys.record(toSeq + 1), limit, revision: revision ?? 0,
  }, options));
}

/**
 * Records per page: about etcdTailPageBytes at the sizes seen so far, and never more than could
 * exceed the client's receive limit even if every record were as large as allowed.
 */
function pageLimit(settings: EtcdLogSettings, averageBytes: number): number {
  const largest = settings.etcdRecordMaxBytes + ETCD_RECORD_HEADER_BYTES + 256;
  const safe = Math.floor(settings.etcdMaxReceiveBytes / largest);
  return Math.max(1, Math.min(safe, Math.floor(settings.etcdTailPageBytes / Math.max(1, averageBytes))));
}

// Item 1 of the cluster benchmark: write throughput through the proxies (binary COPY from several
// clients spread over the proxies) next to etcd's raw guarded-append rate for the same transactions.
// The shape of those transactions (parts, records, record size) is read back from etcd after the
// proxies' run, so the raw run repeats exactly what the proxies sent.
import type { Base, BenchCluster } from './cluster-env.ts';
import { connect, cpuMs } from './cluster-env.ts';
import { copyRows, createCollection } from './cluster-load.ts';
import { rawGuardedAppends, type TxnShape } from './cluster-raw-append.ts';
import type { Dataset } from './search-data.ts';

export interface WriteRound {
  proxyMBps: number; proxyVectorsPerSec: number; proxyTxnsPerSec: number;
  /** The same clients all through one proxy (no contention between proxies on the shard logs). */
  oneProxyMBps: number; oneProxyVectorsPerSec: number;
  rawMBps: number; rawTxnsPerSec: number;
  /** Raw from one writer: one transaction in flight, as a proxy keeps per shard log. */
  rawOneMBps: number;
}

export interface WriteResult {
  clients: number;
  proxies: number;
  rowsPerClient: number;
  shape: TxnShape;
  rounds: WriteRound[];
  /** CPU ms of the proxies over all two-proxy rounds together. */
  proxyCpuMs: number;
}

const COLLECTION = 'writes';

/** One round: every client COPYs rowsPerClient rows at once; MB/s counts the record bytes etcd stored. */
async function proxyRound(base: Base, bc: BenchCluster, data: Dataset, clients: number, rowsPerClient: number, round: string, proxyCount: number, seen: Set<string>): Promise<{ seconds: number; bytes: number; txns: number }> {
  const proxies = bc.cluster.proxies.slice(0, proxyCount);
  const sessions = await Promise.all(Array.from({ length: clients }, (_, c) => connect(proxies[c % proxies.length]!.port)));
  const started = performance.now();
  try {
    await Promise.all(sessions.map((s, c) => copyRows(s, COLLECTION, data, rowsPerClient, `r${round}-c${c}-`)));
  } finally {
    await Promise.all(sessions.map((s) => s.end().catch(() => undefined)));
  }
  const seconds = (performance.now() - started) / 1000;
  const written = await newRecords(base, bc.prefix, seen);
  return { seconds, bytes: written.bytes, txns: written.requests.size };
}

interface LogTotals { bytes: number; records: number; parts: number; requests: Set<string> }

/**
 * The records of the collection's logs not in `seen` (then added to it): bytes, count, distinct request
 * ids (= transactions) and parts. Keys are listed without values (the logs outgrow one etcd reply);
 * the values are read a few at a time.
 */
async function newRecords(base: Base, prefix: string, seen: Set<string>): Promise<LogTotals> {
  const keys = (await base.etcdConn.client.getAll().prefix(`${prefix}log/`).keys()).filter((k) => k.includes('/r/') && !seen.has(k));
  const totals: LogTotals = { bytes: 0, records: 0, parts: 0, requests: new Set() };
  const partKeys = new Set<string>();
  for (let i = 0; i < keys.length; i += 8) {
    const values = await Promise.all(keys.slice(i, i + 8).map((k) => base.etcdConn.client.get(k).buffer()));
    values.forEach((value, j) => {
      const key = keys[i + j]!;
      seen.add(key);
      if (value === null) return;
      const id = value.subarray(1, 17).toString('hex');
      totals.bytes += value.length;
      totals.records++;
      totals.requests.add(id);
      partKeys.add(`${id} ${key.slice(0, key.lastIndexOf('/r/'))}`);
    });
  }
  totals.parts = partKeys.size;
  return totals;
}

export async function measureWrites(base: Base, bc: BenchCluster, data: Dataset, clients: number, rowsPerClient: number, rounds: number, log: (line: string) => void): Promise<WriteResult> {
  const first = await connect(bc.cluster.proxies[0]!.port);
  try {
    await createCollection(first, COLLECTION, data, { shards: 2, replicas: 1, m: 16, efConstruction: 64 });
  } finally {
    await first.end();
  }
  // A proxy's first COPY is ~3× slower than its later ones (connections, JIT): warm every proxy up first.
  for (const [i, proxy] of bc.cluster.proxies.entries()) {
    const session = await connect(proxy.port);
    try {
      await copyRows(session, COLLECTION, data, Math.min(5000, data.baseRows), `warmup-${i}-`);
    } finally {
      await session.end();
    }
  }
  const seen = new Set<string>();
  const warm = await newRecords(base, bc.prefix, seen);
  const shape: TxnShape = {
    parts: Math.round(warm.parts / warm.requests.size),
    recordsPerPart: Math.max(1, Math.round(warm.records / warm.parts)),
    recordBytes: Math.round(warm.bytes / warm.records),
  };
  log(`  transactions as the proxies send them: ${shape.parts} parts × ${shape.recordsPerPart} record(s) of ${shape.recordBytes} B`);
  const out: WriteRound[] = [];
  let proxyCpuMs = 0;
  for (let r = 0; r < rounds; r++) {
    const cpu0 = bc.cluster.proxies.reduce((s, p) => s + cpuMs(p.pid), 0);
    const p = await proxyRound(base, bc, data, clients, rowsPerClient, `${r}`, bc.cluster.proxies.length, seen);
    proxyCpuMs += bc.cluster.proxies.reduce((s, x) => s + cpuMs(x.pid), 0) - cpu0;
    const one = await proxyRound(base, bc, data, clients, rowsPerClient, `${r}one`, 1, seen);
    const raw = await rawGuardedAppends(base.etcdConn, `/vg-bench-raw-${r}/`, clients, Math.max(1, Math.round(p.txns / clients)), shape);
    const rawOne = await rawGuardedAppends(base.etcdConn, `/vg-bench-raw-${r}-one/`, 1, Math.max(1, Math.round(p.txns / clients)), shape);
    const round: WriteRound = {
      proxyMBps: p.bytes / 1e6 / p.seconds, proxyVectorsPerSec: (clients * rowsPerClient) / p.seconds, proxyTxnsPerSec: p.txns / p.seconds,
      oneProxyMBps: one.bytes / 1e6 / one.seconds, oneProxyVectorsPerSec: (clients * rowsPerClient) / one.seconds,
      rawMBps: raw.bytes / 1e6 / raw.seconds, rawTxnsPerSec: raw.txns / raw.seconds, rawOneMBps: rawOne.bytes / 1e6 / rawOne.seconds,
    };
    log(`  round ${r + 1}: proxies ${round.proxyMBps.toFixed(1)} MB/s (${round.proxyVectorsPerSec.toFixed(0)} vectors/s), all through one proxy ${round.oneProxyMBps.toFixed(1)} MB/s, raw etcd ${round.rawMBps.toFixed(1)} MB/s (1 writer: ${round.rawOneMBps.toFixed(1)} MB/s)`);
    out.push(round);
  }
  await base.etcdConn.client.delete().prefix('/vg-bench-raw-');
  return { clients, proxies: bc.cluster.proxies.length, rowsPerClient, shape, rounds: out, proxyCpuMs };
}

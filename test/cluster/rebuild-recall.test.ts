// A wiped worker rebuilds from a peer snapshot plus the log, and the cluster answers as well as
// before: a glove-100 subset (exact cosine ground truth by brute force) loaded by COPY through a
// proxy onto 2 workers (1 shard, 2 replicas); worker 1 is killed and wiped, and recall@10 of the same
// queries through the proxy — answered by worker 0, the peer whose snapshot the rebuild copies — is
// the same as after the rebuild, answered by the rebuilt replica alone. (Two replicas that each built
// their index from the log need not answer alike: HNSW construction is not deterministic across
// replicas, so the comparison is with the replica whose snapshot was copied.)
// (The rebuild itself, with the snapshot copied from the peer, is test/cluster/worker-process.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { DATA_DIR } from '../engine/helpers/data.ts';
import { ClusterInspector } from '../helpers/cluster-inspect.ts';
import { DATABASE } from '../helpers/cluster.ts';
import { eventually, startVgCluster, type VgCluster } from '../helpers/vg-cluster.ts';
import { copyBinary, readVecs } from '../sql/sql-helpers.ts';

const GLOVE = join(DATA_DIR, 'glove-100');
const BASE_ROWS = 3000;
const QUERIES = 60;
const K = 10;
const COPY_ROWS = 1000;

let vg: VgCluster;
let client: pg.Client;
let inspector: ClusterInspector;
const base = readVecs(join(GLOVE, 'base.fvecs'), 'f', BASE_ROWS) as Float32Array[];
const queries = readVecs(join(GLOVE, 'query.fvecs'), 'f', QUERIES) as Float32Array[];

before(async () => {
  vg = await startVgCluster({
    etcdMembers: 1, workers: 2, proxies: 1,
    // Snapshots as soon as anything is logged, so the controller truncates the log and a wiped replica needs a peer's snapshot.
    env: { VECTORGATE_SNAPSHOT_MIN_LOG_BYTES: '1', VECTORGATE_SNAPSHOT_CHECK_INTERVAL_MS: '100', VECTORGATE_CLUSTER_READ_TIMEOUT_MS: '10000' },
  });
  inspector = new ClusterInspector(vg.cluster.etcdUrls);
  client = await vg.client(0);
});
after(async () => {
  await client?.end().catch(() => undefined);
  inspector?.close();
  await vg?.stop();
});

/** The exact top k of each query by cosine distance over the subset (ties: smaller id first). */
function groundTruth(k: number): Set<string>[] {
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const baseNorms = base.map(norm);
  return queries.map((q) => {
    const qn = norm(q);
    const distances = base.map((v, i) => {
      let dot = 0;
      for (let d = 0; d < v.length; d++) dot += v[d]! * q[d]!;
      return { i, distance: 1 - dot / (baseNorms[i]! * qn) };
    });
    distances.sort((a, b) => a.distance - b.distance || a.i - b.i);
    return new Set(distances.slice(0, k).map((d) => String(d.i)));
  });
}

async function recallAt10(truth: Set<string>[]): Promise<number> {
  let found = 0;
  for (const [i, q] of queries.entries()) {
    const res = await client.query({ name: 'knn', text: 'SELECT id FROM vector_search($1, $2, $3)', values: ['glove', `[${Array.from(q).join(',')}]`, K] });
    assert.equal(res.rowCount, K);
    found += res.rows.filter((r) => truth[i]!.has(r.id as string)).length;
  }
  return found / (queries.length * K);
}

test('glove-100: recall@10 through the cluster is the same after a wiped worker rebuilt from a peer snapshot (and what the log holds past it)', async (t) => {
  const truth = groundTruth(K);
  await client.query(`SELECT vector_create_collection('glove', 100, metric => 'cosine', shards => 1, replicas => 2)`);
  // COPYs of 1000 rows: one all-or-nothing COPY is one etcd transaction, which etcdTxnMaxBytes (1 MiB) bounds.
  for (let from = 0; from < BASE_ROWS; from += COPY_ROWS) {
    const data = copyBinary(base.slice(from, from + COPY_ROWS).map((v, i): [string, Float32Array, null] => [String(from + i), v, null]));
    const chunks = Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536));
    await pipeline(Readable.from(chunks), client.query(copyFrom('COPY glove FROM STDIN (FORMAT binary)')));
  }
  const entry = await inspector.entry(DATABASE, 'glove');
  const shard = `${entry.dir}/0`;
  await eventually('both replicas to apply the whole log', () => inspector.settled(entry), 60_000);
  assert.deepEqual([...(await inspector.counts(entry)).values()], [BASE_ROWS, BASE_ROWS]);

  await eventually('the controller to truncate the log below the snapshots', async () => (await inspector.first(shard)) > 1, 60_000);
  const wipedDir = join(vg.dir, 'worker-1');
  const wipedId = readFileSync(join(wipedDir, 'worker-id'), 'utf8').trim();
  await vg.cluster.workers[1]!.kill('SIGKILL');
  rmSync(wipedDir, { recursive: true, force: true });
  mkdirSync(wipedDir);
  const before = await recallAt10(truth);
  assert.ok(before >= 0.9, `recall@10 before the rebuild (the peer alone): ${before}`);
  // Deletes of ids that do not exist are logged (past the peer's snapshot) without changing the answers.
  const committedBefore = await inspector.committed(shard);
  for (let i = 0; i < 3; i++) await client.query(`SELECT vector_delete('glove', $1)`, [`missing-${i}`]);
  assert.ok((await inspector.committed(shard)) > committedBefore, 'the log grew after the wipe');
  assert.ok((await inspector.first(shard)) > 1, 'the log no longer holds the first records: the rebuilt replica needs a snapshot');

  await vg.cluster.workers[1]!.start();
  const rebuiltId = readFileSync(join(wipedDir, 'worker-id'), 'utf8').trim();
  assert.notEqual(rebuiltId, wipedId, 'a wiped data directory is a new worker');
  await eventually('the rebuilt worker to serve the shard, caught up', async () => {
    const placed = (await inspector.placement(shard)).map((r) => r.worker);
    return placed.includes(rebuiltId) && !placed.includes(wipedId) && await inspector.settled(entry);
  }, 60_000).catch(async (err: unknown) => {
    throw new Error(`${String(err)}\nplacement: ${JSON.stringify(await inspector.placement(shard))}\nreports: ${JSON.stringify([...(await inspector.reports(shard))])}\ncommitted ${await inspector.committed(shard)}\nrebuilt worker ${rebuiltId} said:\n${vg.cluster.workers[1]!.output.slice(-3000)}`);
  });
  const counts = await inspector.counts(entry);
  assert.deepEqual([...counts.entries()].filter(([key]) => key.startsWith(`${rebuiltId}/`)).map(([, count]) => count), [BASE_ROWS]);
  await vg.cluster.workers[0]!.kill('SIGKILL');
  const after = await recallAt10(truth);
  assert.equal(after, before, `recall@10 before the rebuild (the peer alone) ${before}, after it (the rebuilt replica alone) ${after}`);
  t.diagnostic(`recall@10 on ${BASE_ROWS} glove-100 rows, ${QUERIES} queries: before the rebuild (peer) ${before}, after (rebuilt) ${after}`);
});

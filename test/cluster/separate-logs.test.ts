// --etcd-logs: a cluster whose shard logs live in a second etcd cluster. Writes through the proxy land
// as log keys there and nowhere in the metadata cluster, which holds the catalog, placement and the
// workers' registrations; the worker tails the logs cluster, so reads see the writes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { EtcdMembers } from '../../src/cluster/etcd-members.ts';
import { createEtcdClient, type EtcdConnection } from '../../src/storage/etcd-client.ts';
import { eventually, startVgCluster, type VgCluster } from '../helpers/vg-cluster.ts';

let logsDir: string;
let logs: EtcdMembers;
let vg: VgCluster;
let client: pg.Client;

before(async () => {
  logsDir = mkdtempSync(join(tmpdir(), 'vectorgate-logs-etcd-'));
  logs = await EtcdMembers.start({ count: 1, dir: logsDir });
  vg = await startVgCluster({ etcdMembers: 1, workers: 1, proxies: 1, env: { VECTORGATE_ETCD_LOG_ENDPOINTS: logs.urls } });
  client = await vg.client(0);
});
after(async () => {
  await client?.end().catch(() => undefined);
  await vg?.stop();
  await logs?.stop();
  rmSync(logsDir, { recursive: true, force: true });
});

async function keys(conn: EtcdConnection, prefix: string): Promise<string[]> {
  return Object.keys(await conn.client.getAll().prefix(prefix).strings());
}

test('logs go to the --etcd-logs cluster, metadata stays in the --etcd one, and reads see the writes', async () => {
  await client.query(`SELECT vector_create_collection('split', 2, shards => 2)`);
  await client.query(`SELECT vector_upsert('split', '[{"id":"a","vector":[1,0]},{"id":"b","vector":[0,1]},{"id":"c","vector":[1,1]}]'::jsonb)`);
  assert.equal((await client.query(`SELECT id FROM vector_get('split', 'c', read_consistency => 'linearizable')`)).rows[0]?.id, 'c');
  assert.deepEqual((await client.query(`SELECT id FROM vector_search('split', '[0,1]', 1, read_consistency => 'session')`)).rows, [{ id: 'b' }]);
  const meta = createEtcdClient({ endpoints: vg.cluster.etcdUrls.split(','), maxReceiveBytes: 1 << 20, callTimeoutMs: 5000 });
  const logConn = createEtcdClient({ endpoints: logs.endpoints, maxReceiveBytes: 1 << 20, callTimeoutMs: 5000 });
  try {
    const logKeys = await keys(logConn, '/vectorgate/log/');
    assert.ok(logKeys.some((k) => /\/log\/split-[^/]+\/\d\/r\//.test(k)), logKeys.join('\n'));
    assert.deepEqual(await keys(meta, '/vectorgate/log/'), [], 'no log key in the metadata cluster');
    assert.equal((await keys(meta, '/vectorgate/catalog/')).length, 1);
    assert.equal((await keys(logConn, '/vectorgate/catalog/')).length, 0, 'no catalog in the logs cluster');
    await eventually('placement in the metadata cluster', async () => (await keys(meta, '/vectorgate/placement/')).length === 2 || undefined);
  } finally {
    meta.client.close();
    logConn.client.close();
  }
});

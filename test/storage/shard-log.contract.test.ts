// The ShardLog contract against both implementations: the local WAL (a temp dir) and the etcd log
// (one real etcd member on free ports).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { EtcdMembers } from '../../src/cluster/etcd-members.ts';
import { DEFAULTS } from '../../src/config.ts';
import { createEtcdClient, type EtcdConnection } from '../../src/storage/etcd-client.ts';
import { EtcdLogWriter, EtcdShardLog } from '../../src/storage/etcd-log.ts';
import { Wal } from '../../src/storage/wal.ts';
import { shardLogContract } from './shard-log-contract.ts';

const root = mkdtempSync(join(tmpdir(), 'vg-shard-log-'));
after(() => rmSync(root, { recursive: true, force: true }));
let sites = 0;

describe('ShardLog contract: local WAL', () => {
  // Small segments, so that truncateBefore can remove whole segments before the truncation point.
  const options = { ...DEFAULTS, walSegmentBytes: 64 };
  shardLogContract(async () => {
    const dir = join(root, `wal-${sites++}`);
    mkdirSync(dir);
    return { open: () => Wal.open(dir, options) };
  });
});

describe('ShardLog contract: etcd log', () => {
  let members: EtcdMembers;
  let conn: EtcdConnection;
  let writer: EtcdLogWriter;
  const settings = { ...DEFAULTS, etcdPrefix: '/contract/' };
  before(async () => {
    members = await EtcdMembers.start({ count: 1, dir: join(root, 'etcd') });
    conn = createEtcdClient({ endpoints: members.endpoints, maxReceiveBytes: settings.etcdMaxReceiveBytes, callTimeoutMs: settings.etcdCallTimeoutMs });
    writer = new EtcdLogWriter(conn, settings);
  });
  after(async () => {
    conn?.client.close();
    await members?.stop();
  });
  shardLogContract(async () => {
    const log = `dir${sites++}/0`;
    return { open: () => EtcdShardLog.open(conn, writer, log, settings) };
  });
});

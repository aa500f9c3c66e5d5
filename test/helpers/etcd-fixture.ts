// Real etcd members for a test file: `useEtcd(n)` registers before/after hooks that start n members in
// a temp dir (free ports) with a client, and stop them and remove the dir afterwards, also on failure.
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdMembers } from '../../src/cluster/etcd-members.ts';
import { createEtcdClient, type EtcdConnection } from '../../src/storage/etcd-client.ts';

export interface EtcdFixture {
  /** The members (set once `before` has run). */
  etcd: EtcdMembers;
  /** A client of all members, with a 64 MiB receive limit. */
  conn: EtcdConnection;
}

export function useEtcd(count: number, callTimeoutMs = 5000): EtcdFixture {
  const fixture = {} as EtcdFixture;
  let dir = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vectorgate-etcd-'));
    fixture.etcd = await EtcdMembers.start({ count, dir });
    fixture.conn = createEtcdClient({ endpoints: fixture.etcd.endpoints, maxReceiveBytes: 64 * 1024 * 1024, callTimeoutMs });
  });
  after(async () => {
    fixture.conn?.client.close();
    await fixture.etcd?.stop();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });
  return fixture;
}

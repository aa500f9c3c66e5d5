// Defragmentation of etcd members, one at a time. Deleting and compacting never shrink a member's
// database file; only defragment does, and it blocks that member (~6 s per GB, field notes), so the
// controller runs it on a schedule for one member after another, and only for a member whose file is
// mostly free space (dbSize over etcdDefragMinBytes and over etcdDefragFreeRatio × dbSizeInUse).
// With a quorum of the others answering, the cluster stays writable while one member defragments.
import { Etcd3 } from 'etcd3';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { withDeadline, type EtcdConnection } from '../storage/etcd-client.ts';

export type DefragSettings = Pick<Config, 'etcdCallTimeoutMs' | 'etcdDefragTimeoutMs' | 'etcdDefragMinBytes' | 'etcdDefragFreeRatio'>;

export interface MemberDefrag { member: string; url: string; dbSizeBefore: number; dbSizeAfter: number }

/** Whether a member's database file is worth defragmenting. */
export function defragDue(dbSize: number, dbSizeInUse: number, settings: Pick<DefragSettings, 'etcdDefragMinBytes' | 'etcdDefragFreeRatio'>): boolean {
  return dbSize >= settings.etcdDefragMinBytes && dbSize >= settings.etcdDefragFreeRatio * Math.max(1, dbSizeInUse);
}

/**
 * Defragments, one after another, every member whose file is due; returns what it did. A member that
 * does not answer is skipped (logged): the next round tries again.
 */
export async function defragmentMembers(conn: EtcdConnection, settings: DefragSettings, log: Logger): Promise<MemberDefrag[]> {
  const members = await withDeadline(conn, settings.etcdCallTimeoutMs, 'list etcd members', (options) => conn.client.cluster.memberList({}, options));
  const done: MemberDefrag[] = [];
  for (const member of members.members) {
    const url = member.clientURLs[0];
    if (url === undefined) continue;
    const one: EtcdConnection = { client: new Etcd3({ hosts: [url], dialTimeout: settings.etcdCallTimeoutMs }), endpoints: [url], callTimeoutMs: settings.etcdDefragTimeoutMs };
    try {
      const before = await withDeadline(one, settings.etcdCallTimeoutMs, 'read a member status', (options) => one.client.maintenance.status(options));
      if (!defragDue(Number(before.dbSize), Number(before.dbSizeInUse), settings)) continue;
      await withDeadline(one, settings.etcdDefragTimeoutMs, 'defragment a member', (options) => one.client.maintenance.defragment(options));
      const after = await withDeadline(one, settings.etcdCallTimeoutMs, 'read a member status', (options) => one.client.maintenance.status(options));
      const result = { member: member.name, url, dbSizeBefore: Number(before.dbSize), dbSizeAfter: Number(after.dbSize) };
      log.info(result, 'defragmented an etcd member');
      done.push(result);
    } catch (err) {
      log.warn({ member: member.name, url, err: err instanceof Error ? err.message : String(err) }, 'could not defragment an etcd member; trying again next round');
    } finally {
      one.client.close();
    }
  }
  return done;
}

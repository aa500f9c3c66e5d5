// Local etcd members as child processes: what `vectorgate cluster` starts when no --etcd is given,
// and what the tests start (a real Raft cluster on loopback, each member on free ports with its own
// data directory). Uses the `etcd` binary on PATH (Debian: etcd-server). Members can be killed with
// SIGKILL and restarted on the same data directory, to test what a crash does.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../cli/postgres-server.ts';
import { SqlState, VectorgateError } from '../errors.ts';

export interface EtcdMembersOptions {
  /** Members: 1 or 3 (or any odd number). */
  count: number;
  /** Each member's data goes to <dir>/etcd-<i>. */
  dir: string;
  /** etcd's --snapshot-count: entries kept in each member's memory beyond 5,000 (field notes: keep it low). */
  snapshotCount?: number;
  /** etcd's --quota-backend-bytes. */
  quotaBackendBytes?: number;
  /** etcd's --max-request-bytes. */
  maxRequestBytes?: number;
  /** How long start() waits for a healthy quorum. */
  startTimeoutMs?: number;
  /** The etcd binary (default: `etcd` on PATH). */
  binary?: string;
}

interface Member { name: string; clientUrl: string; peerUrl: string; dataDir: string; child: ChildProcess | null; stderr: string }

const HOST = '127.0.0.1';

/** Whether an etcd binary can be run, and its version line. */
export function etcdBinary(binary = 'etcd'): { found: boolean; version: string } {
  const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) return { found: false, version: '' };
  return { found: true, version: probe.stdout.split('\n')[0] ?? '' };
}

export class EtcdMembers {
  readonly #options: Required<EtcdMembersOptions>;
  readonly #members: Member[];
  readonly #initialCluster: string;

  private constructor(options: Required<EtcdMembersOptions>, members: Member[]) {
    this.#options = options;
    this.#members = members;
    this.#initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  }

  static async start(options: EtcdMembersOptions): Promise<EtcdMembers> {
    const full: Required<EtcdMembersOptions> = {
      snapshotCount: 10_000, quotaBackendBytes: 2 * 1024 ** 3, maxRequestBytes: 1_572_864, startTimeoutMs: 20_000, binary: 'etcd', ...options,
    };
    if (!etcdBinary(full.binary).found) {
      throw new Error(`no etcd binary "${full.binary}" to run: install one (Debian/Ubuntu: apt-get install etcd-server) or give --etcd URLS of a running cluster`);
    }
    const members: Member[] = [];
    for (let i = 0; i < full.count; i++) {
      const dataDir = join(full.dir, `etcd-${i}`);
      mkdirSync(dataDir, { recursive: true });
      members.push({ name: `etcd-${i}`, clientUrl: `http://${HOST}:${await freePort()}`, peerUrl: `http://${HOST}:${await freePort()}`, dataDir, child: null, stderr: '' });
    }
    const cluster = new EtcdMembers(full, members);
    try {
      for (let i = 0; i < members.length; i++) cluster.restart(i);
      await cluster.waitHealthy(full.startTimeoutMs);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** The client URLs, comma-separated as --etcd takes them. */
  get urls(): string { return this.#members.map((m) => m.clientUrl).join(','); }
  get endpoints(): string[] { return this.#members.map((m) => m.clientUrl); }
  get count(): number { return this.#members.length; }
  isRunning(i: number): boolean { return this.#member(i).child !== null; }
  pid(i: number): number | undefined { return this.#member(i).child?.pid; }

  /** SIGKILL: the member stops at once, as in a crash (its data directory stays). */
  async kill(i: number): Promise<void> {
    const member = this.#member(i);
    const child = member.child;
    if (child === null) return;
    member.child = null;
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** Starts member i (again) on its data directory; a no-op while it runs. */
  restart(i: number): void {
    const member = this.#member(i);
    if (member.child !== null) return;
    const o = this.#options;
    const child = spawn(o.binary, [
      '--name', member.name, '--data-dir', member.dataDir,
      '--listen-client-urls', member.clientUrl, '--advertise-client-urls', member.clientUrl,
      '--listen-peer-urls', member.peerUrl, '--initial-advertise-peer-urls', member.peerUrl,
      '--initial-cluster', this.#initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', 'vectorgate',
      '--snapshot-count', String(o.snapshotCount), '--quota-backend-bytes', String(o.quotaBackendBytes),
      '--max-request-bytes', String(o.maxRequestBytes), '--logger', 'zap', '--log-level', 'error',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    member.child = child;
    member.stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => { member.stderr = (member.stderr + text).slice(-4096); });
    child.once('exit', () => { if (member.child === child) member.child = null; });
  }

  /** Resolves once every running member answers /health with true. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const running = this.#members.filter((m) => m.child !== null);
    for (;;) {
      const healthy = await Promise.all(running.map((m) => memberHealthy(m.clientUrl)));
      if (healthy.every(Boolean)) return;
      if (Date.now() > deadline) {
        const failing = running.filter((_, i) => !healthy[i]);
        throw new VectorgateError(SqlState.ConnectionFailure, `etcd members not healthy after ${timeoutMs} ms: ${failing.map((m) => m.name).join(', ')}`, {
          detail: failing.map((m) => `${m.name}: ${m.child === null ? 'exited' : 'running'}; ${m.stderr.trim().split('\n').at(-1) ?? ''}`).join('\n'),
        });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The index of the current Raft leader among the running members, or null when there is none. */
  async leader(): Promise<number | null> {
    for (let i = 0; i < this.#members.length; i++) {
      const m = this.#members[i]!;
      if (m.child === null) continue;
      const status = await memberStatus(m.clientUrl);
      if (status === null) continue;
      const index = this.#members.findIndex((x) => x.name === status.leaderName);
      if (index >= 0) return index;
    }
    return null;
  }

  /** Kills every member; data directories stay (the caller removes its dir). */
  async stop(): Promise<void> {
    await Promise.all(this.#members.map((_, i) => this.kill(i)));
  }

  #member(i: number): Member {
    const member = this.#members[i];
    if (member === undefined) throw new RangeError(`no etcd member ${i}`);
    return member;
  }
}

async function memberHealthy(clientUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

/** The member's view of the leader, via the v3 gRPC-gateway's maintenance status. */
async function memberStatus(clientUrl: string): Promise<{ leaderName: string } | null> {
  try {
    const status = await postJson(clientUrl, '/v3/maintenance/status', {}) as { leader?: string };
    const members = await postJson(clientUrl, '/v3/cluster/member/list', {}) as { members?: { ID: string; name: string }[] };
    const leader = members.members?.find((m) => m.ID === status.leader);
    return leader === undefined ? null : { leaderName: leader.name };
  } catch {
    return null;
  }
}

async function postJson(base: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(1000) });
  return res.json();
}

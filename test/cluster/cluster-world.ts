// One test's cluster parts against a shared etcd member (EtcdShared: one per test file): in-process
// workers (startWorker) and controllers, an etcd client, worker clients and a log writer; World.stop
// stops everything it started, in reverse order, also when the test failed.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseWorker, workerKey } from '../../src/cluster/cluster-keys.ts';
import { startController, type RunningController } from '../../src/cluster/controller.ts';
import { EtcdMembers } from '../../src/cluster/etcd-members.ts';
import { WorkerClients } from '../../src/cluster/worker-client.ts';
import { startWorker, type RunningWorker } from '../../src/cluster/worker-process.ts';
import type { Config } from '../../src/config.ts';
import { VectorgateError } from '../../src/errors.ts';
import type { EtcdConnection } from '../../src/storage/etcd-client.ts';
import { EtcdLogWriter } from '../../src/storage/etcd-log.ts';
import { clusterConfig, connect } from './cluster-fixture.ts';

/** VG_TEST_LOG=info shows what workers and controllers log. */
export const silent = pino({ level: process.env.VG_TEST_LOG ?? 'silent' });

/** A temp directory and one etcd member for a test file (start in before, stop in after). */
export class EtcdShared {
  readonly root: string;
  #etcd: EtcdMembers | null = null;
  #dirs = 0;

  constructor(name: string) { this.root = mkdtempSync(join(tmpdir(), `vg-${name}-`)); }

  get etcd(): EtcdMembers {
    if (this.#etcd === null) throw new Error('etcd is not started');
    return this.#etcd;
  }

  async start(): Promise<void> { this.#etcd = await EtcdMembers.start({ count: 1, dir: join(this.root, 'etcd') }); }

  async stop(): Promise<void> {
    await this.#etcd?.stop();
    rmSync(this.root, { recursive: true, force: true });
  }

  /** A fresh directory below the root. */
  dir(name = 'data'): string { return join(this.root, `${name}-${this.#dirs++}`); }
}

export class World {
  readonly shared: EtcdShared;
  readonly config: Config;
  readonly conn: EtcdConnection;
  readonly clients: WorkerClients;
  readonly writer: EtcdLogWriter;
  readonly #stops: (() => Promise<void>)[] = [];

  constructor(shared: EtcdShared, overrides: Partial<Config> = {}) {
    this.shared = shared;
    this.config = clusterConfig(shared.etcd.urls, overrides);
    this.conn = connect(this.config);
    this.clients = new WorkerClients(this.config);
    this.writer = new EtcdLogWriter(this.conn, this.config);
  }

  dataDir(): string { return this.shared.dir(); }

  /** A worker in this process, registered (ready) before it is returned. */
  async worker(dataDir = this.dataDir(), log = silent): Promise<RunningWorker> {
    const worker = await startWorker({ ...this.config, dataDir }, log);
    this.#stops.push(() => worker.stop());
    await worker.ready;
    return worker;
  }

  controller(id: string, log = silent): RunningController {
    const conn = connect(this.config);
    const controller = startController({ conn, config: this.config, id, log });
    this.#stops.push(async () => { await controller.stop(); conn.client.close(); });
    return controller;
  }

  later(stop: () => Promise<void>): void { this.#stops.push(stop); }

  /** The address worker `id` registered. */
  async addressOf(id: string): Promise<string> {
    const value = await this.conn.client.get(workerKey(this.config.etcdPrefix, id)).buffer();
    assert.ok(value !== null, `worker ${id} is registered`);
    return parseWorker(value)!.address;
  }

  async stop(): Promise<void> {
    for (const stop of this.#stops.reverse()) await stop().catch((err: unknown) => console.error('stop failed:', err));
    this.clients.close();
    this.conn.client.close();
  }
}

export async function inWorld(shared: EtcdShared, overrides: Partial<Config>, use: (world: World) => Promise<void>): Promise<void> {
  const world = new World(shared, overrides);
  try { await use(world); } finally { await world.stop(); }
}

export const isError = (code: string, pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof VectorgateError, String(err));
  assert.equal(err.code, code, err.message);
  assert.match(err.message, pattern);
  return true;
};

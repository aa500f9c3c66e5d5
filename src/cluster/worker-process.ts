// `vectorgate worker`: a cluster's shard worker process. It listens for the proxies' gRPC calls
// (worker-server.ts), registers in etcd under a lease (worker-lease.ts, worker-reporter.ts), follows
// the controller's placement and opens the replicas placed on it (worker-replicas.ts), whose logs it
// tails from etcd. Reads (search, explain, get, stats) are answered; writes are refused: in a cluster
// the proxies append to etcd directly, and workers only follow.
// Its identity is <data-dir>/worker-id, made at the first start, so a restarted worker keeps its
// placement and its replicas resume from their snapshots and the log.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Request } from '../router/worker-protocol.ts';
import { withDeadline, type EtcdConnection } from '../storage/etcd-client.ts';
import { closeLogConnection, openLogConnection, openMetaConnection } from './etcd-connections.ts';
import { EtcdCatalogStore } from '../storage/etcd-catalog.ts';
import { EtcdMirror } from '../storage/etcd-mirror.ts';
import { writeFileAtomic } from '../storage/fsync.ts';
import { PLACEMENT, REPLICAS, WORKERS } from './cluster-keys.ts';
import { WorkerClients } from './worker-client.ts';
import { WorkerLease } from './worker-lease.ts';
import { WorkerReplicas } from './worker-replicas.ts';
import { WorkerReporter } from './worker-reporter.ts';
import { WorkerServer } from './worker-server.ts';

export interface RunningWorker {
  id: string;
  /** host:port the proxies and peers dial (published in workers/<id>). */
  address: string;
  /** Resolves once the worker is registered in etcd (it retries until then); rejects only if stopped first. */
  ready: Promise<void>;
  /** Stops serving, snapshots its replicas, revokes its lease (its keys go at once). */
  stop(): Promise<void>;
}

const ID_FILE = 'worker-id';
/** What a worker answers: reads, and a snapshot now (its replicas also snapshot on their own cadence). */
const READS: ReadonlySet<Request['type']> = new Set(['search', 'explain', 'get', 'stats', 'snapshot']);

/** Listens, then connects to etcd in the background (retrying with back-off while it is unreachable). */
export async function startWorker(config: Config, log: Logger): Promise<RunningWorker> {
  if (config.etcdEndpoints.trim() === '') throw new RangeError('worker needs --etcd URLS (the etcd cluster it registers in)');
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const id = await workerId(dataDir);
  log = log.child({ worker: id });
  const worker = new WorkerRuntime(config, log, id, dataDir);
  const server = await WorkerServer.listen({
    host: config.listenHost, port: config.listenPort, config,
    handler: (req) => worker.handle(req),
    snapshotSource: (shard) => worker.replicas?.snapshotSource(shard) ?? Promise.resolve(null),
  });
  const address = advertisedAddress(config.listenHost, server.port);
  log.info({ id, address, listen: server.address, zone: config.workerZone, capacity: config.workerCapacity }, 'worker listening');
  const ready = worker.start(address);
  return {
    id, address, ready,
    stop: async () => {
      await server.close(config.shutdownGraceMs);
      await worker.stop();
    },
  };
}

/** What others dial: the listen address, or this host's name when listening on every interface. */
export function advertisedAddress(host: string, port: number): string {
  const everywhere = host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';
  const name = everywhere ? hostname() : host;
  return `${name.includes(':') ? `[${name}]` : name}:${port}`;
}

/** <dataDir>/worker-id, made once. */
async function workerId(dataDir: string): Promise<string> {
  const file = join(dataDir, ID_FILE);
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9_.-]{1,128}$/.test(id)) return id;
    throw new Error(`${file} does not hold a worker id (letters, digits, _ . -): remove it to get a new identity`);
  }
  const id = `w-${randomBytes(6).toString('hex')}`;
  await writeFileAtomic(file, `${id}\n`);
  return id;
}

class WorkerRuntime {
  readonly #config: Config;
  readonly #log: Logger;
  readonly #id: string;
  readonly #dataDir: string;
  readonly #startedAt = Date.now();
  readonly #closers: (() => Promise<void>)[] = [];
  replicas: WorkerReplicas | null = null;
  #lease: WorkerLease | null = null;
  #reporter: WorkerReporter | null = null;
  readonly #stopping = new AbortController();
  #joining: Promise<void> | null = null;
  #conn: EtcdConnection | null = null;
  #logs: EtcdConnection | null = null;
  #inflight = 0;

  constructor(config: Config, log: Logger, id: string, dataDir: string) {
    this.#config = config;
    this.#log = log;
    this.#id = id;
    this.#dataDir = dataDir;
  }

  async handle(req: Request): Promise<unknown> {
    // As a worker thread's queue: at most workerMaxInflight + workerMaxQueued requests at once, then 53400.
    const limit = this.#config.workerMaxInflight + this.#config.workerMaxQueued;
    if (this.#inflight >= limit) {
      throw new VectorgateError(SqlState.ConfigurationLimitExceeded, `worker ${this.#id} has ${limit} requests in progress (workerMaxInflight + workerMaxQueued)`,
        { hint: 'Another replica can answer; add workers or replicas for more read capacity.' });
    }
    this.#inflight++;
    try {
      return await this.#answer(req);
    } finally {
      this.#inflight--;
    }
  }

  async #answer(req: Request): Promise<unknown> {
    if (!READS.has(req.type)) {
      throw new VectorgateError(SqlState.FeatureNotSupported, `worker ${this.#id} does not take ${req.type} requests`,
        { hint: 'In a cluster the proxies write to the etcd log and the placement controller opens and closes replicas.' });
    }
    if (this.replicas?.host.replica(req.shard) === undefined) {
      throw new VectorgateError(SqlState.ObjectNotInPrerequisiteState, `worker ${this.#id} holds no open replica of shard ${req.shard}`,
        { hint: 'Placement moved it or it is still opening; another replica can answer.' });
    }
    return this.replicas.host.handle(req);
  }

  /** Joins in the background; stop() waits for it to give up. */
  start(address: string): Promise<void> {
    this.#joining = this.#join(address);
    this.#joining.catch(() => undefined);
    return this.#joining;
  }

  /** Connects (retrying), registers, and follows placement. */
  async #join(address: string): Promise<void> {
    const conn = await this.#connect();
    const config = this.#config;
    const mirror = async (what: string) => {
      const m = await this.#retrying(`read ${what}`, () => EtcdMirror.open({ conn, prefix: config.etcdPrefix + what, callTimeoutMs: config.etcdCallTimeoutMs, retryMs: config.etcdWatchRetryMs }));
      this.#closers.push(() => m.close());
      return m;
    };
    const catalog = await this.#retrying('read the catalog', () => EtcdCatalogStore.open({ client: conn.client, endpoints: [...conn.endpoints], config }));
    this.#closers.push(() => catalog.close());
    const [placement, reports, workers] = [await mirror(PLACEMENT), await mirror(REPLICAS), await mirror(WORKERS)];
    const peers = new WorkerClients(config);
    this.#closers.push(async () => peers.close());
    const replicas = new WorkerReplicas({
      id: this.#id, dataDir: this.#dataDir, config, log: this.#log, conn, logConn: this.#logConn(conn), catalog, placement, reports, workers, peers,
      onServing: () => this.#reporter?.soon(),
      onDropped: () => this.#reporter?.soon(),
    });
    this.replicas = replicas;
    const reporter = new WorkerReporter({
      conn, config, id: this.#id, log: this.#log,
      registration: () => ({ id: this.#id, address, zone: config.workerZone, capacity: config.workerCapacity, shards: replicas.shards, memoryBytes: replicas.memoryBytes(), startedAt: this.#startedAt }),
      reports: () => replicas.reportsNow(),
      leaseId: () => this.#lease?.id ?? null,
    });
    this.#reporter = reporter;
    const lease = new WorkerLease({
      conn, ttlSeconds: config.workerLeaseTtlSeconds, callTimeoutMs: config.etcdCallTimeoutMs, retryMs: config.workerEtcdRetryMs, retryMaxMs: config.workerEtcdRetryMaxMs, log: this.#log,
      onRenewed: async () => {
        // While the lease was gone, watches may have missed changes: read placement and the catalog's
        // effects again before claiming anything under the new lease.
        await Promise.all([placement.refresh(), reports.refresh(), workers.refresh()]);
        await reporter.register();
        await replicas.reconcile();
      },
    });
    this.#lease = lease;
    await this.#retrying('grant the worker lease', () => lease.start());
    await this.#retrying('register the worker', () => reporter.register());
    reporter.start();
    const reconcile = () => void replicas.reconcile();
    placement.onChange(reconcile);
    const unwatch = catalog.watch(reconcile);
    this.#closers.push(async () => unwatch());
    replicas.host.startSnapshotTimer();
    await replicas.reconcile();
    this.#log.info({ id: this.#id, address, lease: lease.id, shards: replicas.shards.length }, 'worker registered');
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#joining?.catch(() => undefined);
    await this.#reporter?.stop();
    await this.replicas?.close();
    await this.#lease?.revoke().catch((err: unknown) => this.#log.warn({ err: String(err) }, 'could not revoke the worker lease; its keys expire with its TTL'));
    for (const close of this.#closers.reverse()) await close().catch(() => undefined);
    if (this.#logs !== null && this.#conn !== null) closeLogConnection(this.#logs, this.#conn);
    this.#conn?.client.close();
  }

  /** The shard logs' connection (opened once; the metadata connection unless --etcd-logs). */
  #logConn(meta: EtcdConnection): EtcdConnection {
    this.#logs ??= openLogConnection(this.#config, meta);
    return this.#logs;
  }

  async #connect(): Promise<EtcdConnection> {
    const config = this.#config;
    const conn = openMetaConnection(config);
    this.#conn = conn;
    await this.#retrying('reach etcd', () => withDeadline(conn, config.etcdCallTimeoutMs, 'reach etcd', (options) => conn.client.get(`${config.etcdPrefix}${WORKERS}${this.#id}`).options(options).exec()));
    return conn;
  }

  /** Runs `step` until it succeeds, logging each failure and backing off (doubling up to workerEtcdRetryMaxMs). */
  async #retrying<T>(what: string, step: () => Promise<T>): Promise<T> {
    let waitMs = this.#config.workerEtcdRetryMs;
    for (let attempt = 1; ; attempt++) {
      if (this.#stopping.signal.aborted) throw new Error(`worker stopped before it could ${what}`);
      try {
        return await step();
      } catch (err) {
        if (this.#stopping.signal.aborted) throw new Error(`worker stopped before it could ${what}`);
        this.#log.warn({ attempt, retryMs: waitMs, endpoints: this.#config.etcdEndpoints, err: err instanceof Error ? err.message : String(err) },
          `worker cannot ${what}; retrying`);
        await sleep(waitMs, undefined, { signal: this.#stopping.signal }).catch(() => undefined);
        waitMs = Math.min(waitMs * 2, this.#config.workerEtcdRetryMaxMs);
      }
    }
  }
}

// The placement controller: runs in every proxy, one of them elected through an etcd election
// (controller-election.ts: `election/<prefix>controller/`, lease TTL controllerLeaseTtlSeconds).
// While leader it re-plans every placementIntervalMs and on every change it watches: workers/ (alive
// = key present; one gone is remembered from when it went missing, for placementGraceMs), replicas/
// reports, the catalog, and placement/. The plan (planPlacement, a pure function) is written in one
// transaction per ≤ 100 keys, each guarded by the campaign key still existing, so a deposed leader
// cannot write. It also
// - removes placement/ and log/<dir>/ of collections gone from the catalog (after reading the catalog
//   from etcd itself, so a view that lags behind a create never deletes a new collection's log);
// - truncates each shard's log before the lowest snapshot any replica placed on it reports (a
//   replica without a report holds truncation back), so no placed replica loses records it needs;
// - compacts etcd's history to the current revision every etcdCompactIntervalMs (the metadata's
//   etcd and, with --etcd-logs, the logs' too), and every etcdDefragIntervalMs defragments, one member
//   at a time, the members whose file is mostly free pages (etcd-defrag.ts; it blocks a member ~6 s/GB).
import { setTimeout as sleep } from 'node:timers/promises';
import type { IRequestOp } from 'etcd3';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { CatalogStore } from '../storage/catalog-store.ts';
import { withDeadline, type EtcdConnection } from '../storage/etcd-client.ts';
import { EtcdCatalogStore } from '../storage/etcd-catalog.ts';
import { EtcdLogWriter, EtcdShardLog } from '../storage/etcd-log.ts';
import { EtcdMirror } from '../storage/etcd-mirror.ts';
import { dirOfShard, logPrefix, parsePlacement, parseReport, parseWorker, placementKey, PLACEMENT, REPLICAS, splitReplicaKey, WORKERS, type ReplicaReportValue } from './cluster-keys.ts';
import { Candidate, electionPrefix } from './controller-election.ts';
import { defragmentMembers } from './etcd-defrag.ts';
import { truncationPoints } from './log-truncation.ts';
import { planPlacement, type Assignment, type PlacementShard, type PlacementWorker } from './placement-plan.ts';

export interface ControllerOptions {
  conn: EtcdConnection;
  /** The shard logs' cluster (truncation, dropped logs, compaction); default: conn's. */
  logConn?: EtcdConnection;
  config: Config;
  /** Who campaigns (the proxy's id); the election's value. */
  id: string;
  log: Logger;
}

export interface RunningController {
  readonly isLeader: boolean;
  /** Resigns (a successor takes over at once) and stops watching. */
  stop(): Promise<void>;
}

/** Operations per transaction, under etcd's default --max-txn-ops (128), leaving room for the guard. */
const OPS_PER_TXN = 100;

/** Starts campaigning in the background; never throws for an unreachable etcd (it retries, logged). */
export function startController(options: ControllerOptions): RunningController {
  const controller = new PlacementController(options);
  controller.run();
  return controller;
}

interface Views { catalog: CatalogStore; workers: EtcdMirror; reports: EtcdMirror; placement: EtcdMirror }

class PlacementController implements RunningController {
  readonly #options: ControllerOptions;
  readonly #stopping = new AbortController();
  readonly #missingSince = new Map<string, number>();
  readonly #truncatedTo = new Map<string, number>();
  readonly #writer: EtcdLogWriter;
  #views: Views | null = null;
  #unsubscribe: (() => void)[] = [];
  #candidate: Candidate | null = null;
  /** Ends the current term (a guarded write found the campaign key gone). */
  #depose: ((err: Error) => void) | null = null;
  #campaignKey: string | null = null;
  #leader = false;
  #running: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #ticking: Promise<void> | null = null;
  #tickAgain = false;
  #compactedAtMs = Date.now();
  #defraggedAtMs = Date.now();
  #lastWarnings = '';
  /** The revision of the last placement this controller wrote: rounds wait until the mirror has it. */
  #writtenRevision = 0n;

  constructor(options: ControllerOptions) {
    this.#options = options;
    this.#writer = new EtcdLogWriter(options.logConn ?? options.conn, options.config);
  }

  get isLeader(): boolean { return this.#leader; }

  run(): void {
    this.#running = this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#stepDown();
    await this.#candidate?.resign();
    await this.#running.catch(() => undefined);
    await this.#ticking?.catch(() => undefined);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    const views = this.#views;
    this.#views = null;
    if (views !== null) await Promise.allSettled([views.catalog.close(), views.workers.close(), views.reports.close(), views.placement.close()]);
  }

  /** Campaign, lead until the campaign fails (lease lost, etcd gone), campaign again. */
  async #loop(): Promise<void> {
    const { config, log } = this.#options;
    let retryMs = config.workerEtcdRetryMs;
    while (!this.#stopping.signal.aborted) {
      try {
        this.#views ??= await this.#openViews();
        await this.#lead();
        retryMs = config.workerEtcdRetryMs;
      } catch (err) {
        this.#stepDown();
        if (this.#stopping.signal.aborted) return;
        log.warn({ err: err instanceof Error ? err.message : String(err), retryMs }, 'placement controller: campaign failed; campaigning again');
        await sleep(retryMs, undefined, { signal: this.#stopping.signal }).catch(() => undefined);
        retryMs = Math.min(retryMs * 2, config.workerEtcdRetryMaxMs);
      }
    }
  }

  async #lead(): Promise<void> {
    const { conn, config, id, log } = this.#options;
    const candidate = await Candidate.enter({
      conn, prefix: electionPrefix(config.etcdPrefix), value: id, ttlSeconds: config.controllerLeaseTtlSeconds,
      checkMs: config.placementIntervalMs, callTimeoutMs: config.etcdCallTimeoutMs,
    });
    this.#candidate = candidate;
    const stopped = this.#stopping.signal.aborted ? Promise.resolve()
      : new Promise<void>((resolve) => this.#stopping.signal.addEventListener('abort', () => resolve(), { once: true }));
    const deposed = new Promise<never>((_, reject) => { this.#depose = reject; });
    deposed.catch(() => undefined);
    try {
      await Promise.race([candidate.elected(), candidate.lost, stopped]);
      if (this.#stopping.signal.aborted) return;
      this.#campaignKey = candidate.key;
      this.#leader = true;
      log.info({ id }, 'placement controller elected');
      this.#timer = setInterval(() => this.#soon(), config.placementIntervalMs);
      this.#soon();
      await Promise.race([candidate.lost, deposed, stopped]);
    } finally {
      this.#stepDown();
      this.#depose = null;
      await candidate.resign();
      if (this.#candidate === candidate) this.#candidate = null;
    }
  }

  #stepDown(): void {
    if (this.#leader) this.#options.log.info({ id: this.#options.id }, 'placement controller no longer leads');
    this.#leader = false;
    this.#campaignKey = null;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  async #openViews(): Promise<Views> {
    const { conn, config } = this.#options;
    const mirror = (what: string) => EtcdMirror.open({ conn, prefix: config.etcdPrefix + what, callTimeoutMs: config.etcdCallTimeoutMs, retryMs: config.etcdWatchRetryMs });
    const opened: { close(): Promise<void> }[] = [];
    const open = async <T extends { close(): Promise<void> }>(view: Promise<T>): Promise<T> => {
      const v = await view;
      opened.push(v);
      return v;
    };
    let views: Views;
    try {
      const catalog = await open(EtcdCatalogStore.open({ client: conn.client, endpoints: [...conn.endpoints], config }));
      views = { catalog, workers: await open(mirror(WORKERS)), reports: await open(mirror(REPLICAS)), placement: await open(mirror(PLACEMENT)) };
    } catch (err) {
      // What did open watches etcd: closed, or they would outlive this attempt.
      await Promise.allSettled(opened.map((v) => v.close()));
      throw err;
    }
    const catalog = views.catalog;
    const changed = () => this.#soon();
    this.#unsubscribe = [catalog.watch(changed), views.workers.onChange(changed), views.reports.onChange(changed), views.placement.onChange(changed)];
    return views;
  }

  /** One planning round soon (coalesced: at most one runs, one more queued). */
  #soon(): void {
    if (!this.#leader) return;
    if (this.#ticking !== null) {
      this.#tickAgain = true;
      return;
    }
    this.#ticking = this.#tick().catch((err: unknown) => {
      this.#options.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'placement controller: round failed; trying again next interval');
    }).finally(() => {
      this.#ticking = null;
      if (this.#tickAgain) {
        this.#tickAgain = false;
        this.#soon();
      }
    });
  }

  async #tick(): Promise<void> {
    const views = this.#views;
    if (views === null || !this.#leader) return;
    const { config, log } = this.#options;
    // Planning from a mirror older than our own last write would plan (and log) the same moves again.
    if (views.placement.revision < this.#writtenRevision) return;
    const now = Date.now();
    const current = readAssignment(views.placement);
    const shards: PlacementShard[] = views.catalog.list().flatMap((e) => Array.from({ length: e.shards }, (_, i) => ({ key: `${e.dir}/${i}`, replicas: e.replicas })));
    const known = new Set(shards.map((s) => dirOfShard(s.key)));
    const dropped = await this.#confirmDropped([...new Set(Object.keys(current).map(dirOfShard))].filter((dir) => !known.has(dir)));
    // Shards of a collection the catalog view has not caught up with: left as they are.
    for (const key of Object.keys(current)) if (!known.has(dirOfShard(key)) && !dropped.has(dirOfShard(key))) delete current[key];
    const reports = readReports(views.reports);
    const plan = planPlacement({
      workers: this.#workers(views.workers, current, now), shards, current,
      reports: Object.fromEntries(Object.entries(reports).map(([shard, byWorker]) => [shard, Object.fromEntries(Object.entries(byWorker).map(([w, r]) => [w, { serving: r.serving }]))])),
      nowMs: now, graceMs: config.placementGraceMs,
    });
    const ops = placementOps(config.etcdPrefix, current, plan.assignment);
    const placementChanged = ops.length > 0;
    const logs = this.#logConn;
    // A dropped collection's log goes with its placement: in the same guarded transaction when the
    // logs share the metadata's etcd, after it otherwise (a crash in between leaves the log, which
    // the next round, still finding no catalog entry for it, removes).
    const dropLogs = [...dropped].map((dir) => deletePrefix(logPrefix(config.etcdPrefix, dir)));
    if (logs === this.#options.conn) ops.push(...dropLogs);
    if (ops.length > 0) {
      const revision = await this.#write(ops);
      if (revision === null) return;
      if (placementChanged) this.#writtenRevision = revision;
    }
    if (logs !== this.#options.conn && dropLogs.length > 0) {
      await withDeadline(logs, config.etcdCallTimeoutMs, 'remove dropped logs', (options) => logs.client.kv.txn({ success: dropLogs }, options));
    }
    for (const move of plan.moves) log.info({ ...move }, 'placement move');
    const warnings = plan.warnings.join('; ');
    if (warnings !== this.#lastWarnings && warnings !== '') log.warn({ warnings: plan.warnings }, 'placement: shards short of replicas');
    this.#lastWarnings = warnings;
    for (const dir of dropped) log.info({ dir }, 'placement: removed the placement and log of a dropped collection');
    await this.#truncate(plan.assignment, reports);
    if (now - this.#compactedAtMs >= config.etcdCompactIntervalMs) await this.#compact();
  }

  /** Every worker registered, and every worker placement names that is not (with since when it is missing). */
  #workers(mirror: EtcdMirror, current: Assignment, now: number): PlacementWorker[] {
    const workers = new Map<string, PlacementWorker>();
    for (const [, value] of mirror.entries()) {
      const w = parseWorker(value);
      if (w !== null) workers.set(w.id, { id: w.id, zone: w.zone, capacity: w.capacity, alive: true });
    }
    for (const id of this.#missingSince.keys()) if (workers.has(id)) this.#missingSince.delete(id);
    for (const replicas of Object.values(current)) {
      for (const { worker } of replicas) {
        if (workers.has(worker)) continue;
        if (!this.#missingSince.has(worker)) this.#missingSince.set(worker, now);
        workers.set(worker, { id: worker, zone: '', capacity: 0, alive: false, leaseLostSinceMs: this.#missingSince.get(worker) });
      }
    }
    return [...workers.values()];
  }

  /** The dirs that the catalog in etcd (read now, not the watched view) no longer has. */
  async #confirmDropped(dirs: string[]): Promise<Set<string>> {
    if (dirs.length === 0) return new Set();
    const { conn, config } = this.#options;
    const res = await withDeadline(conn, config.etcdCallTimeoutMs, 'read the catalog', (options) => conn.client.getAll().prefix(`${config.etcdPrefix}catalog/`).options(options).strings());
    const live = new Set<string>();
    for (const text of Object.values(res)) {
      try { live.add(String((JSON.parse(text) as { dir?: unknown }).dir)); } catch { /* not an entry: ignored */ }
    }
    return new Set(dirs.filter((dir) => !live.has(dir)));
  }

  /** Writes in guarded transactions; the last one's revision, or null (and steps down) when the campaign key is gone. */
  async #write(ops: IRequestOp[]): Promise<bigint | null> {
    const { conn, config, log } = this.#options;
    const key = this.#campaignKey;
    if (key === null) return null;
    let revision = 0n;
    for (let i = 0; i < ops.length; i += OPS_PER_TXN) {
      const chunk = ops.slice(i, i + OPS_PER_TXN);
      const res = await withDeadline(conn, config.etcdCallTimeoutMs, 'write placement', (options) => conn.client.kv.txn({
        compare: [{ key: Buffer.from(key), target: 'Create', result: 'Greater', create_revision: 0 }],
        success: chunk,
      }, options));
      if (!res.succeeded) {
        log.warn({ id: this.#options.id }, 'placement controller: its campaign key is gone (deposed); not writing placement');
        this.#stepDown();
        this.#depose?.(new Error('deposed: the campaign key is gone'));
        return null;
      }
      revision = BigInt(res.header.revision);
    }
    return revision;
  }

  /** Truncates each shard's log where truncationPoints allows (once per new point). */
  async #truncate(assignment: Assignment, reports: Record<string, Record<string, ReplicaReportValue>>): Promise<void> {
    const { config, log } = this.#options;
    for (const shard of this.#truncatedTo.keys()) if (assignment[shard] === undefined) this.#truncatedTo.delete(shard);
    for (const [shard, before] of truncationPoints(assignment, reports)) {
      if ((this.#truncatedTo.get(shard) ?? 0) >= before) continue;
      const shardLog = await EtcdShardLog.open(this.#logConn, this.#writer, shard, config);
      try {
        await shardLog.truncateBefore(before);
        this.#truncatedTo.set(shard, before);
        log.debug({ shard, before }, 'log truncated');
      } finally {
        await shardLog.close();
      }
    }
  }

  /** Compacts the history of the metadata's etcd and, when apart, the logs' etcd; then defragments members that are due. */
  async #compact(): Promise<void> {
    const { conn, config, log } = this.#options;
    this.#compactedAtMs = Date.now();
    const clusters = this.#logConn === conn ? [conn] : [conn, this.#logConn];
    for (const target of clusters) await compactHistory(target, config, log);
    if (Date.now() - this.#defraggedAtMs >= config.etcdDefragIntervalMs) {
      this.#defraggedAtMs = Date.now();
      for (const target of clusters) await defragmentMembers(target, config, log);
    }
  }

  /** The shard logs' cluster (the metadata's unless --etcd-logs). */
  get #logConn(): EtcdConnection { return this.#options.logConn ?? this.#options.conn; }
}

/** Compacts etcd's history up to its current revision (deletes and truncations only free space after it). */
async function compactHistory(conn: EtcdConnection, config: Config, log: Logger): Promise<void> {
  const res = await withDeadline(conn, config.etcdCallTimeoutMs, 'read the revision', (options) => conn.client.kv.range({ key: Buffer.from(`${config.etcdPrefix}controller`) }, options));
  try {
    await withDeadline(conn, config.etcdCallTimeoutMs, 'compact etcd', (options) => conn.client.kv.compact({ revision: res.header.revision }, options));
    log.info({ revision: res.header.revision, endpoints: conn.endpoints }, 'etcd compacted');
  } catch (err) {
    // Compacted to this revision already (another controller, or etcd's own auto-compaction).
    if (!/compacted/.test(err instanceof Error ? err.message : String(err))) throw err;
  }
}

function readAssignment(mirror: EtcdMirror): Assignment {
  const out: Assignment = {};
  for (const [shard, value] of mirror.entries()) {
    const placement = parsePlacement(value);
    if (placement !== null) out[shard] = placement.replicas;
  }
  return out;
}

function readReports(mirror: EtcdMirror): Record<string, Record<string, ReplicaReportValue>> {
  const out: Record<string, Record<string, ReplicaReportValue>> = {};
  for (const [key, value] of mirror.entries()) {
    const where = splitReplicaKey(key);
    const report = parseReport(value);
    if (where === null || report === null) continue;
    (out[where.shard] ??= {})[where.worker] = report;
  }
  return out;
}

/** Puts of changed placement keys, deletes of keys the plan no longer has. */
function placementOps(prefix: string, current: Assignment, next: Assignment): IRequestOp[] {
  const ops: IRequestOp[] = [];
  for (const [shard, replicas] of Object.entries(next)) {
    if (JSON.stringify(current[shard] ?? null) === JSON.stringify(replicas)) continue;
    ops.push({ request_put: { key: Buffer.from(placementKey(prefix, shard)), value: Buffer.from(JSON.stringify({ replicas })) } });
  }
  for (const shard of Object.keys(current)) {
    if (next[shard] === undefined) ops.push({ request_delete_range: { key: Buffer.from(placementKey(prefix, shard)) } });
  }
  return ops;
}

/** Deletes every key under prefix (range end: the prefix with its last byte + 1). */
function deletePrefix(prefix: string): IRequestOp {
  const key = Buffer.from(prefix);
  const end = Buffer.from(key);
  end[end.length - 1]! += 1;
  return { request_delete_range: { key, range_end: end } };
}

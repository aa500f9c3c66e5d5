// Collections whose shards are still opening after a start (snapshot + log replay), so that the proxy
// can listen before they are done: a statement on one waits for it, up to recoveryWaitMs, then gets
// 57P03 as PostgreSQL answers while it starts up. A collection whose recovery failed answers every
// statement with why, until it is dropped or the proxy restarts. A collection opened later (created,
// or seen in a shared catalog) is never here: it is ready once its create returns.
import type { Config } from '../config.ts';
import { SqlState, toVectorgateError, VectorgateError } from '../errors.ts';
import type { CollectionEntry } from '../storage/catalog-store.ts';

/** What a listing says of a collection: ready, still opening its shards, or failed to. */
export type RecoveryState = 'ready' | 'recovering' | 'failed';

interface Recovery {
  entry: CollectionEntry;
  /** Shards open so far (the progress a 57P03 reports). */
  opened: number;
  failure: VectorgateError | null;
  /** Settles (never rejects) once every shard is open or one failed. */
  settled: Promise<void>;
}

export class CollectionRecoveries {
  readonly #config: Config;
  /** By entry.dir (a dropped and re-created name gets another dir). A recovered entry is removed. */
  readonly #recoveries = new Map<string, Recovery>();

  constructor(config: Config) {
    this.#config = config;
  }

  /**
   * Tracks the recovery of entry; open(onShardOpen) opens its shards. Resolves once settled, with
   * the error if it failed (the collection then stays failed here).
   */
  track(entry: CollectionEntry, open: (onShardOpen: () => void) => Promise<void>): Promise<unknown> {
    let failure: unknown = null;
    const recovery: Recovery = { entry, opened: 0, failure: null, settled: Promise.resolve() };
    this.#recoveries.set(entry.dir, recovery);
    recovery.settled = open(() => { recovery.opened++; }).then(
      () => { this.#recoveries.delete(entry.dir); },
      (err: unknown) => {
        failure = err;
        const cause = toVectorgateError(err);
        recovery.failure = new VectorgateError(cause.code, `collection "${entry.name}" could not be recovered: ${cause.message}`,
          { cause: err, hint: 'Drop it, or fix the cause and restart vectorgate.' });
      });
    return recovery.settled.then(() => failure);
  }

  state(entry: CollectionEntry): RecoveryState {
    const recovery = this.#recoveries.get(entry.dir);
    if (recovery === undefined) return 'ready';
    return recovery.failure === null ? 'recovering' : 'failed';
  }

  /** Every tracked recovery, settled. */
  async settled(): Promise<void> {
    await Promise.all([...this.#recoveries.values()].map((r) => r.settled));
  }

  /** A dropped collection is no longer tracked. */
  forget(entry: CollectionEntry): void {
    this.#recoveries.delete(entry.dir);
  }

  /**
   * null when entry is ready (the hot path: no promise, no timer); otherwise resolves once it is,
   * or rejects with its failure, or with 57P03 after recoveryWaitMs.
   */
  ready(entry: CollectionEntry): Promise<void> | null {
    const recovery = this.#recoveries.get(entry.dir);
    if (recovery === undefined) return null;
    return this.#wait(recovery);
  }

  async #wait(recovery: Recovery): Promise<void> {
    const waitMs = this.#config.recoveryWaitMs;
    if (recovery.failure === null && waitMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([recovery.settled, new Promise<void>((resolve) => { timer = setTimeout(resolve, waitMs); })]);
      clearTimeout(timer);
    }
    if (recovery.failure !== null) throw recovery.failure;
    if (this.#recoveries.get(recovery.entry.dir) !== recovery) return;
    const { entry, opened } = recovery;
    throw new VectorgateError(SqlState.CannotConnectNow, `collection "${entry.name}" is recovering`, {
      detail: `${opened} of ${entry.shards} shards open (snapshot loaded and log replayed); waited ${waitMs} ms (recoveryWaitMs).`,
      hint: 'Retry once the collection has recovered.',
    });
  }
}

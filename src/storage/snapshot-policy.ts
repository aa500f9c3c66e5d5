// When to snapshot a shard: once its log has grown past snapshotMinLogBytes since the last snapshot,
// but not while ingest is heavy (a snapshot saves the whole index and competes with the writers for
// CPU and disk), unless the log has reached snapshotMaxLogBytes, which bounds restart replay time.
// The ingest rate is measured over a sliding window of a few seconds.

export interface SnapshotPolicyOptions {
  snapshotMinLogBytes: number;
  snapshotHeavyIngestBytesPerSec: number;
  snapshotMaxLogBytes: number;
}

const WINDOW_MS = 5_000;
const MAX_SAMPLES = 64;
const SAMPLE_SPACING_MS = WINDOW_MS / MAX_SAMPLES;

export class SnapshotPolicy {
  readonly #options: SnapshotPolicyOptions;
  /** (time, total bytes appended so far), oldest first. */
  readonly #samples: [number, number][] = [];
  #total = 0;

  constructor(options: SnapshotPolicyOptions) {
    this.#options = options;
  }

  recordAppend(bytes: number, now: number): void {
    this.#total += bytes;
    const last = this.#samples.at(-1);
    if (last !== undefined && now - last[0] < SAMPLE_SPACING_MS) last[1] = this.#total;
    else this.#samples.push([now, this.#total]);
    this.#trim(now);
  }

  /** Bytes per second appended over the window ending now. */
  ingestRate(now: number): number {
    this.#trim(now);
    const first = this.#samples[0];
    if (first === undefined) return 0;
    const bytes = this.#total - first[1];
    return (bytes * 1000) / Math.max(now - first[0], 1000);
  }

  due(logBytesSinceSnapshot: number, now: number): boolean {
    const { snapshotMinLogBytes, snapshotMaxLogBytes, snapshotHeavyIngestBytesPerSec } = this.#options;
    if (logBytesSinceSnapshot < snapshotMinLogBytes) return false;
    if (logBytesSinceSnapshot >= snapshotMaxLogBytes) return true;
    return this.ingestRate(now) < snapshotHeavyIngestBytesPerSec;
  }

  #trim(now: number): void {
    while (this.#samples.length > 1 && (now - this.#samples[0]![0] > WINDOW_MS || this.#samples.length > MAX_SAMPLES)) this.#samples.shift();
  }
}

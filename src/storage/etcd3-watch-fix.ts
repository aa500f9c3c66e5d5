// A fix for etcd3 1.1.2's watch stream: a response for a watcher it no longer knows (one cancelled
// while etcd still had events for it in flight — our mirrors and tails cancel and re-create watchers
// whenever they re-list) makes WatchManager.handleResponse throw inside the gRPC stream's data handler,
// which is an uncaught exception that ends the process (seen in the kill trials: two workers died of
// "Failed to find watcher for IWatchResponse"). Such a response has no one left to deliver to, so it
// is dropped instead; every other response goes through etcd3's own handling unchanged.
// https://github.com/microsoft/etcd3 (lib/watch.ts, WatchManager.handleResponse)
import { createRequire } from 'node:module';

interface WatchResponse { watch_id: string }
interface WatchManagerLike { watchers: { id: string | null }[]; handleResponse(res: WatchResponse): void }

let applied = false;

export function fixEtcd3Watch(): void {
  if (applied) return;
  applied = true;
  // etcd3 is CommonJS; its WatchManager is not part of its typed API.
  const { WatchManager } = createRequire(import.meta.url)('etcd3/lib/watch.js') as { WatchManager: { prototype: WatchManagerLike } };
  const original = WatchManager.prototype.handleResponse;
  WatchManager.prototype.handleResponse = function (this: WatchManagerLike, res: WatchResponse): void {
    if (!this.watchers.some((w) => w.id === res.watch_id)) return;
    original.call(this, res);
  };
}

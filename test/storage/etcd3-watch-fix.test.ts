// etcd3's watch manager threw (an uncaught exception that ended the process) on a response for a
// watcher it had already cancelled; with the fix such a late response is dropped, and a response for
// a watcher it knows still reaches that watcher. The late response is a race with etcd's stream that
// a test cannot time for real, so the manager's own method is called with one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fixEtcd3Watch } from '../../src/storage/etcd3-watch-fix.ts';

interface Manager { watchers: { id: string | null }[]; handleResponse(res: unknown): void; handleUpdateResponse(w: unknown, res: unknown): void; backoff: unknown; initialBackoff: { next(): unknown } }

test('a watch response for a watcher no longer known is dropped; one for a known watcher is delivered', () => {
  fixEtcd3Watch();
  const { WatchManager } = createRequire(import.meta.url)('etcd3/lib/watch.js') as { WatchManager: { prototype: Manager } };
  const delivered: unknown[] = [];
  const manager = Object.assign(Object.create(WatchManager.prototype) as Manager, {
    watchers: [{ id: '7' }],
    initialBackoff: { next: () => null },
    handleUpdateResponse: (_watcher: unknown, res: unknown) => { delivered.push(res); },
  });
  assert.doesNotThrow(() => manager.handleResponse({ watch_id: '3', canceled: false, events: [] }));
  manager.handleResponse({ watch_id: '7', canceled: false, events: [] });
  assert.equal(delivered.length, 1);
});

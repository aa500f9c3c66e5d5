// The repository names no directory of a developer's machine: tests find the shared data as
// ../shared/data beside the checkout, results files record paths relative to the repository.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

test('no tracked file names a path under /work, /root or /home', () => {
  const found = spawnSync('git', ['grep', '-nIE', '/(work|root|home)/'], { cwd: root, encoding: 'utf8' });
  assert.equal(found.stdout, '');
  assert.equal(found.status, 1, `git grep: ${found.stderr}`);
});

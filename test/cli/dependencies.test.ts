// What `npm install` needs and what `engines` promises, read from package.json and the lock file:
// nothing in the install may need a compiler except optional packages, nothing unused, run-time code
// only among the run-time dependencies, and every installed package accepts the Node versions
// `engines` names (https://docs.npmjs.com/cli/configuring-npm/package-json#engines).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[]; dev?: boolean; optional?: boolean }>;
};

type Version = [number, number, number];

function parseVersion(text: string): Version {
  const [major = 0, minor = 0, patch = 0] = text.replace(/^v/, '').split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : 0));
  return [major, minor, patch];
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** Whether `version` satisfies an npm range of the forms packages use for engines.node. */
function satisfies(version: Version, range: string): boolean {
  return range.split('||').some((alternative) => {
    const comparators = alternative.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1').split(/\s+/).filter(Boolean);
    return comparators.every((comparator) => {
      const [, op = '', bound = ''] = /^(>=|<=|>|<|=|\^|~)?(.*)$/.exec(comparator)!;
      const wanted = parseVersion(bound);
      const order = compare(version, wanted);
      if (bound === '*' || bound === 'x') return true;
      if (op === '>=') return order >= 0;
      if (op === '>') return order > 0;
      if (op === '<=') return order <= 0;
      if (op === '<') return order < 0;
      if (op === '^') return order >= 0 && version[0] === wanted[0];
      if (op === '~') return order >= 0 && version[0] === wanted[0] && version[1] === wanted[1];
      return version[0] === wanted[0] && (!/^\d+\.\d+/.test(bound) || version[1] === wanted[1]);
    });
  });
}

test('engines: every locked package accepts the lowest Node version package.json promises', () => {
  const floor = /^>=\s*(\d+(\.\d+){0,2})$/.exec(manifest.engines!.node!);
  assert.ok(floor, `engines.node is a floor (>=N), got ${manifest.engines!.node}`);
  const lowest = parseVersion(floor[1]!);
  const refusing: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    const node = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
    if (path !== '' && node !== undefined && !satisfies(lowest, node)) refusing.push(`${path}@${entry.version}: node ${node}`);
  }
  assert.deepEqual(refusing, []);
});

test('npm install needs no compiler: hnswlib-node (node-gyp) is optional, lmdb is gone', () => {
  assert.equal(manifest.optionalDependencies!['hnswlib-node'], '3.0.0');
  assert.equal(manifest.dependencies!['hnswlib-node'], undefined);
  for (const group of ['dependencies', 'optionalDependencies', 'devDependencies']) {
    assert.equal(manifest[group]!.lmdb, undefined, `lmdb in ${group}`);
  }
  assert.equal(lock.packages['node_modules/lmdb'], undefined, 'lmdb is not installed either');
  assert.equal(lock.packages['node_modules/hnswlib-node']?.optional, true);
});

test('tsx, TypeScript and pg-protocol (only tests use it) are dev dependencies', () => {
  for (const name of ['tsx', 'typescript', 'pg-protocol']) {
    assert.equal(manifest.dependencies![name], undefined, `${name} is not a run-time dependency`);
    assert.ok(manifest.devDependencies![name], `${name} is a dev dependency`);
  }
});

test('every dependency is pinned to one exact version', () => {
  for (const group of ['dependencies', 'optionalDependencies', 'devDependencies']) {
    for (const [name, range] of Object.entries(manifest[group]!)) assert.match(range, /^\d+\.\d+\.\d+(-[\w.]+)?$/, `${group} ${name}`);
  }
});

// bin/vectorgate.js picks the compiled dist/ only while it is newer than every TypeScript source, so an
// edited source is never shadowed by an old build. Checked on a copy of the entry point in a temp
// tree whose src/ and dist/ say which one ran; plus the real build, which `npm install` made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** `withoutTsx`: node_modules as an install without dev dependencies has it (no tsx). */
function tree(withoutTsx = false): string {
  const dir = mkdtempSync(join(tmpdir(), 'vectorgate-entry-'));
  for (const sub of ['bin', 'src/cli', 'dist/cli']) mkdirSync(join(dir, sub), { recursive: true });
  for (const file of ['vectorgate.js', 'compiled.js']) copyFileSync(join(root, 'bin', file), join(dir, 'bin', file));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  if (withoutTsx) {
    mkdirSync(join(dir, 'node_modules'));
    for (const name of readdirSync(join(root, 'node_modules'))) {
      if (name !== 'tsx') symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name));
    }
  } else {
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  }
  writeFileSync(join(dir, 'src/cli/main.ts'), "const from: string = 'src';\nconsole.log(from);\n");
  writeFileSync(join(dir, 'dist/cli/main.js'), "console.log('dist');\n");
  return dir;
}

function ran(dir: string, env: NodeJS.ProcessEnv = {}): string {
  const out = spawnSync(process.execPath, [join(dir, 'bin/vectorgate.js')], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(out.status, 0, out.stderr);
  return out.stdout.trim();
}

test('the compiled build runs while it is newer than the sources, the sources (tsx) otherwise', (t) => {
  const dir = tree();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const past = new Date(Date.now() - 60_000);
  const now = new Date();
  utimesSync(join(dir, 'src/cli/main.ts'), past, past);
  utimesSync(join(dir, 'dist/cli/main.js'), now, now);
  assert.equal(ran(dir), 'dist');
  assert.equal(ran(dir, { VECTORGATE_NO_DIST: '1' }), 'src', 'VECTORGATE_NO_DIST forces the sources');
  utimesSync(join(dir, 'src/cli/main.ts'), now, now);
  utimesSync(join(dir, 'dist/cli/main.js'), past, past);
  assert.equal(ran(dir), 'src', 'an edited source wins over an older build');
  rmSync(join(dir, 'dist'), { recursive: true });
  assert.equal(ran(dir), 'src', 'no build at all');
});

test('without tsx, a fresh build runs; a stale or missing one stops with one message naming npm run build', (t) => {
  const dir = tree(true);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const past = new Date(Date.now() - 60_000);
  const now = new Date();
  utimesSync(join(dir, 'src/cli/main.ts'), past, past);
  utimesSync(join(dir, 'dist/cli/main.js'), now, now);
  assert.equal(ran(dir), 'dist');
  utimesSync(join(dir, 'src/cli/main.ts'), now, now);
  utimesSync(join(dir, 'dist/cli/main.js'), past, past);
  const stale = spawnSync(process.execPath, [join(dir, 'bin/vectorgate.js')], { encoding: 'utf8' });
  assert.equal(stale.status, 1);
  assert.equal(stale.stdout, '');
  assert.match(stale.stderr, /^vectorgate: the compiled build \(dist\/\) is older than the TypeScript sources in src\/, and tsx, which runs the sources, is not installed: run `npm run build`/);
  assert.equal(stale.stderr.trim().split('\n').length, 1, 'one line, no stack trace');
  rmSync(join(dir, 'dist'), { recursive: true });
  const missing = spawnSync(process.execPath, [join(dir, 'bin/vectorgate.js')], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /dist\/\) is missing, and tsx.* is not installed: run `npm run build`/);
});

test('npm install built dist/ with the same modules as src/', () => {
  assert.ok(existsSync(join(root, 'dist/cli/main.js')), 'dist/ is built by npm install (prepare)');
  assert.ok(existsSync(join(root, 'dist/router/shard-worker.js')), 'the shard worker is compiled beside the shard host');
});

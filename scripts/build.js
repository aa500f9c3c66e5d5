#!/usr/bin/env node
// Compiles src/ to dist/ (same layout, so paths relative to a module — ../../package.json,
// ../../sql/vectorgate.sql — hold in both). bin/vectorgate.js runs dist/ while it is newer than every
// source file and falls back to tsx otherwise, so a build that was skipped or is stale never runs.
// Runs at `npm install` (prepare); without TypeScript (an install without dev dependencies) it skips.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
let tsc;
try {
  const manifest = createRequire(import.meta.url).resolve('typescript/package.json');
  tsc = new URL('bin/tsc', pathToFileURL(manifest)).pathname;
} catch {
  console.warn('vectorgate: TypeScript (a dev dependency) is not installed; dist/ not built: bin/vectorgate.js runs the sources through tsx, when that is installed');
  process.exit(0);
}
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);

#!/usr/bin/env node
// Entry point. Runs the compiled dist/ (scripts/build.js, at npm install) when it is newer than every
// TypeScript source; otherwise registers tsx and runs the sources as they are. Compiled, a process
// starts ~0.4 s sooner (no TypeScript at start-up, in the proxy and in each shard worker). tsx is a
// dev dependency: without it (npm install --omit=dev) only a fresh dist/ can run, so say how to get one.
import { existsSync } from 'node:fs';
import { compiledEntry, compiledIsFresh } from './compiled.js';

if (compiledIsFresh()) {
  await import(compiledEntry.href);
} else {
  const tsx = await import('tsx/esm/api').catch((err) => {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes("'tsx'")) throw err;
    const state = existsSync(compiledEntry) ? 'older than the TypeScript sources in src/' : 'missing';
    console.error(`vectorgate: the compiled build (dist/) is ${state}, and tsx, which runs the sources, is not installed: run \`npm run build\` (with the dev dependencies installed: \`npm install\`)`);
    process.exit(1);
  });
  tsx.register();
  await import('../src/cli/main.ts');
}

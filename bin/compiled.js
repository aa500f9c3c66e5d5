// Whether the compiled dist/ may run: it exists and is newer than every TypeScript source, so an
// edited source is never shadowed by an old build. Used by bin/vectorgate.js and the benchmarks.
import { existsSync, readdirSync, statSync } from 'node:fs';

const src = new URL('../src/', import.meta.url);
export const compiledEntry = new URL('../dist/cli/main.js', import.meta.url);

export function compiledIsFresh() {
  if (process.env.VECTORGATE_NO_DIST === '1') return false;
  let built;
  try {
    built = statSync(compiledEntry).mtimeMs;
  } catch {
    return false;
  }
  // An install that ships only dist/ (the Docker image) has no sources to be newer than it.
  if (!existsSync(src)) return true;
  for (const file of readdirSync(src, { recursive: true })) {
    if (file.endsWith('.ts') && statSync(new URL(file, src)).mtimeMs > built) return false;
  }
  return true;
}

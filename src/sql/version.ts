// vectorgate_version(): the one local function of the proxy milestone; it proves the local path.
import { readFileSync } from 'node:fs';
import { TEXT } from './pg-types.ts';
import type { LocalFunction } from './functions/types.ts';

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export const VECTORGATE_VERSION: string = packageJson.version;

export const versionFunction: LocalFunction = {
  name: 'vectorgate_version',
  set: false,
  columns: [{ name: 'vectorgate_version', type: TEXT }],
  overloads: [{ params: [], run: async () => [[VECTORGATE_VERSION]] }],
};

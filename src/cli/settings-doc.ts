// `vectorgate settings`: the table of every setting, its environment variable, default and meaning,
// read from src/config.ts itself (the doc comment above each field), so it cannot drift.
// docs/configuration.md is this output; test/cli/settings-doc.test.ts checks that they agree.
import { readFileSync } from 'node:fs';
import { DEFAULTS, envName, type Config } from '../config.ts';

function fieldComments(): Map<string, string> {
  // From src/cli or dist/cli alike: the documentation comes from the TypeScript source's comments.
  const source = readFileSync(new URL('../../src/config.ts', import.meta.url), 'utf8');
  const body = source.slice(source.indexOf('export interface Config'), source.indexOf('export const DEFAULTS'));
  const comments = new Map<string, string>();
  const pattern = /\/\*\*([\s\S]*?)\*\/\s*(\w+):/g;
  for (let m = pattern.exec(body); m !== null; m = pattern.exec(body)) {
    comments.set(m[2]!, m[1]!.replace(/\s*\n\s*\*\s?/g, ' ').trim());
  }
  return comments;
}

function formatDefault(value: unknown): string {
  if (value === null) return '(none)';
  if (typeof value === 'number' && value >= 1024 && value % 1024 === 0) {
    const units = ['KiB', 'MiB', 'GiB'];
    let v = value;
    let unit = -1;
    while (v % 1024 === 0 && v >= 1024 && unit < 2) { v /= 1024; unit++; }
    return `${value} (${v} ${units[unit]})`;
  }
  return String(value);
}

export function settingsTable(): string {
  const comments = fieldComments();
  const lines = [
    '| setting | environment variable | default | meaning |',
    '| --- | --- | --- | --- |',
  ];
  for (const key of Object.keys(DEFAULTS) as (keyof Config)[]) {
    const meaning = (comments.get(key) ?? '').replace(/\|/g, '\\|');
    lines.push(`| \`${key}\` | \`${envName(key)}\` | ${formatDefault(DEFAULTS[key])} | ${meaning} |`);
  }
  return lines.join('\n') + '\n';
}

export function configurationDoc(): string {
  return [
    '# Configuration',
    '',
    'Every default and limit of vectorgate, generated from `src/config.ts` by `vectorgate settings`.',
    'Set them with the environment variable shown, or for the common ones with a flag (`vectorgate --help`).',
    'Flags beat environment variables, which beat these defaults.',
    '',
    settingsTable(),
  ].join('\n');
}

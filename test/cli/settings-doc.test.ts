import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configurationDoc } from '../../src/cli/settings-doc.ts';
import { DEFAULTS, configFromEnv, envName, makeConfig } from '../../src/config.ts';

test('docs/configuration.md is what `vectorgate settings` prints', () => {
  const committed = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  assert.equal(committed, configurationDoc(), 'regenerate with: node bin/vectorgate.js settings > docs/configuration.md');
  for (const key of Object.keys(DEFAULTS)) {
    const row = committed.split('\n').find((line) => line.startsWith(`| \`${key}\` |`));
    assert.ok(row !== undefined && !row.endsWith('|  |'), `${key} is documented with its meaning in src/config.ts`);
  }
});

test('environment variables override defaults, with types; bad limits are refused', () => {
  const config = makeConfig(configFromEnv({ [envName('maxConnections')]: '7', [envName('upstreamTls')]: 'on', [envName('listenHost')]: '0.0.0.0' }));
  assert.equal(config.maxConnections, 7);
  assert.equal(config.upstreamTls, true);
  assert.equal(config.listenHost, '0.0.0.0');
  assert.throws(() => makeConfig({ maxConnections: 0 }), RangeError);
  assert.throws(() => configFromEnv({ [envName('maxK')]: 'many' }), RangeError);
  assert.throws(() => makeConfig({ tlsCertFile: 'cert.pem' }), RangeError);
});

// What only the inline host does (the contract covers the rest): unfiltered searches of one shard
// that arrive in the same event-loop turn are answered by one multi-core index call, with exactly
// the answers they get one by one, and a query the shard refuses fails alone.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeConfig } from '../../src/config.ts';
import type { EngineKind, IndexSpec } from '../../src/engine/vector-index.ts';
import { VectorgateError } from '../../src/errors.ts';
import { InProcessTransport } from '../../src/router/inprocess-transport.ts';
import { randomVectors, rng } from '../engine/helpers/data.ts';

const DIMS = 16;
const ROWS = 2000;
const root = mkdtempSync(join(tmpdir(), 'vg-inline-'));
after(() => rmSync(root, { recursive: true, force: true }));

for (const [engine, metric] of [['usearch', 'cosine'], ['usearch', 'l2'], ['hnswlib', 'l2']] as const) {
  test(`${engine} ${metric}: searches in one turn are answered together, each as it is alone; a bad one fails alone`, async () => {
    const spec: IndexSpec = { engine: engine as EngineKind, dims: DIMS, metric, quantization: 'none', m: 16, efConstruction: 64 };
    const transport = new InProcessTransport(makeConfig({ logLevel: 'silent', searchBatchMaxQueries: 8, inlineIndexStepRows: ROWS }));
    const shard = `${engine}-${metric}/0`;
    try {
      await transport.open(shard, join(root, `${engine}-${metric}`), spec, []);
      const random = rng(31);
      const vectors = randomVectors(random, ROWS, DIMS);
      await transport.call({ type: 'write', shard, upsert: { ids: Array.from({ length: ROWS }, (_, i) => `r${i}`), vectors, payloads: Array(ROWS).fill(null) } });
      const queries = Array.from({ length: 20 }, () => randomVectors(random, 1, DIMS));
      const options = { ef: 32 };
      const alone: unknown[] = [];
      for (const query of queries) alone.push(await transport.call({ type: 'search', shard, query, k: 10, options }));
      const together = await Promise.all(queries.map((query) => transport.call({ type: 'search', shard, query, k: 10, options })));
      assert.deepEqual(together, alone, '20 searches in one turn (batches of at most 8) answer what each answers alone');
      const mixed = await Promise.allSettled([
        transport.call({ type: 'search', shard, query: queries[0]!, k: 10, options }),
        transport.call({ type: 'search', shard, query: new Float32Array(DIMS - 1), k: 10, options }),
        transport.call({ type: 'search', shard, query: queries[1]!, k: 10, options }),
      ]);
      assert.deepEqual(mixed.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      const refused = (mixed[1] as PromiseRejectedResult).reason;
      assert.ok(refused instanceof VectorgateError && refused.code === '22000', String(refused));
      assert.deepEqual([(mixed[0] as PromiseFulfilledResult<unknown>).value, (mixed[2] as PromiseFulfilledResult<unknown>).value], [alone[0], alone[1]]);
    } finally {
      await transport.close();
    }
  });
}

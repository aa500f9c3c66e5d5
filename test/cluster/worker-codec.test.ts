// The gRPC byte codec of the worker protocol: every request and result type round-trips, vectors and
// distances bit for bit (-0, subnormals, NaN payloads), bad bytes and bad fields fail with 08P01
// naming what is wrong, and sizes are bounded on both sides (54000).
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { ExplainedSearch, ReplicaStats } from '../../src/router/shard-replica.ts';
import type { Request, Results, WireError } from '../../src/router/worker-protocol.ts';
import { decodeReply, decodeRequest, encodeError, encodeRequest, encodeResult, type RequestType } from '../../src/cluster/worker-codec.ts';
import { VectorgateError } from '../../src/errors.ts';
import { randomVectors, rng } from '../engine/helpers/data.ts';

const limits = { maxBytes: 1024 * 1024, gzipMinBytes: 0 };
const gzipped = { maxBytes: 1024 * 1024, gzipMinBytes: 64 };

/** Floats whose bits JSON would lose or change: -0, subnormals, NaN with a payload, infinities, extremes. */
function trickyFloats(): Float32Array {
  const bits = new Uint32Array([0x80000000, 0x00000001, 0x807fffff, 0x7fc00001, 0xffc12345, 0x7f800000, 0xff800000, 0x7f7fffff, 0x00800000, 0x3f800000]);
  return new Float32Array(bits.buffer);
}

function bitsOf(values: Float32Array | Float64Array): number[] {
  return [...new Uint8Array(values.buffer, values.byteOffset, values.byteLength)];
}

function expectMalformed(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof VectorgateError && err.code === '08P01' && pattern.test(err.message));
}

const random = rng(1010);
const vectors = new Float32Array([...trickyFloats(), ...randomVectors(random, 3, 10)]);
const read = { minSeq: 7, maxStalenessMs: 250, waitMs: 1000 };
const spec = { dims: 10, metric: 'cosine', quantization: 'none', m: 16, efConstruction: 64, engine: 'usearch' } as const;

const requests: Request[] = [
  { type: 'open', shard: 'c/0', dir: '/data/c-1/0', spec, committed: [3, 9] },
  { type: 'close', shard: 'c/0' },
  { type: 'write', shard: 'c/0', upsert: { ids: ['a', 'b', 'c', 'd'], vectors, payloads: ['{"x":1}', null, '{"é":"ü"}', '{}'] }, delete: ['z'] },
  { type: 'write', shard: 'c/0', delete: ['y', 'z'] },
  { type: 'prepare', shard: 'c/1', txid: 42, upsert: { ids: ['a', 'b', 'c', 'd'], vectors, payloads: [null, null, null, null] } },
  { type: 'decide', shard: 'c/1', txid: 42, commit: false },
  { type: 'retained', shard: 'c/1' },
  { type: 'search', shard: 'c/0', query: trickyFloats(), k: 10, options: { ef: 80, filter: '{"tag":{"$eq":"a"}}' }, read },
  { type: 'search', shard: 'c/0', query: trickyFloats(), k: 3, options: {} },
  { type: 'explain', shard: 'c/0', query: trickyFloats(), k: 5, options: { filter: { tag: 'a' } }, read: { waitMs: 0 } },
  { type: 'get', shard: 'c/0', id: 'a', read: { minSeq: 0, waitMs: 5 } },
  { type: 'get', shard: 'c/0', id: 'b' },
  { type: 'stats', shard: 'c/0' },
  { type: 'snapshot', shard: 'c/0' },
];

const distances = [-0, 5e-324, 0.1 + 0.2, Number.MAX_VALUE, 1 / 3];
const hits = distances.map((distance, i) => ({ id: `id-${i}`, distance, payload: i % 2 === 0 ? `{"i":${i}}` : null }));
const explained: ExplainedSearch = {
  hits, ms: 0.123456789, lastApplied: 99,
  trace: { strategy: 'hnsw, widened', reason: 'filter matches 3%', rows: 1000, ef: 64, candidates: [64, 256], rescored: 12, selectivity: 0.03 },
};
const stats: ReplicaStats = { count: 3, unindexed: 1, payloadBytes: 40, lastApplied: 12, logBytes: 4096, snapshotSeq: 10, memoryBytes: 123456 };
const results: { [T in RequestType]: Results[T][] } = {
  open: [null], close: [null], snapshot: [null], write: [1, 2 ** 40], prepare: [17], decide: [5, null], retained: [0, null],
  search: [hits, []], explain: [explained], get: [{ id: 'a', vector: trickyFloats(), payload: '{"x":1}' }, { id: 'b', vector: new Float32Array(0), payload: null }, null],
  stats: [stats],
};

describe('worker codec: requests', () => {
  for (const req of requests) {
    test(`${req.type} round-trips${'read' in req && req.read ? ' with a read bound' : ''}`, () => {
      for (const l of [limits, gzipped]) {
        const back = decodeRequest(encodeRequest(req, l), l);
        assert.deepEqual(back, req);
        if (back.type === 'search' && req.type === 'search') assert.deepEqual(bitsOf(back.query), bitsOf(req.query));
        if (back.type === 'write' && req.type === 'write' && req.upsert) assert.deepEqual(bitsOf(back.upsert!.vectors), bitsOf(req.upsert.vectors));
      }
    });
  }

  test('vectors travel as raw bytes, not JSON numbers', () => {
    const big = randomVectors(random, 1000, 100);
    const encoded = encodeRequest({ type: 'write', shard: 's', upsert: { ids: Array.from({ length: 1000 }, (_, i) => `${i}`), vectors: big, payloads: new Array(1000).fill(null) } }, { maxBytes: 10 * 1024 * 1024, gzipMinBytes: 0 });
    assert.ok(encoded.length < big.byteLength + 20_000, `${encoded.length} bytes for ${big.byteLength} bytes of floats`);
  });

  test('a vector of a sub-array is encoded from its own bytes, not its whole buffer', () => {
    const whole = randomVectors(random, 4, 10);
    const back = decodeRequest(encodeRequest({ type: 'search', shard: 's', query: whole.subarray(10, 20), k: 1, options: {} }, limits), limits);
    assert.ok(back.type === 'search');
    assert.deepEqual(bitsOf(back.query), bitsOf(whole.subarray(10, 20)));
  });
});

describe('worker codec: replies', () => {
  for (const [type, values] of Object.entries(results) as [RequestType, unknown[]][]) {
    test(`${type} results round-trip`, () => {
      for (const value of values) {
        for (const l of [limits, gzipped]) {
          const reply = decodeReply(type, encodeResult(type, value as never, l), l);
          assert.deepEqual(reply, { ok: true, value });
        }
      }
    });
  }

  test('search distances are bit-exact (-0 and subnormals included)', () => {
    const reply = decodeReply('search', encodeResult('search', hits, limits), limits);
    assert.ok(reply.ok);
    assert.ok(Object.is(reply.value[0]!.distance, -0));
    assert.equal(reply.value[1]!.distance, 5e-324);
    assert.deepEqual(bitsOf(Float64Array.from(reply.value, (h) => h.distance)), bitsOf(Float64Array.from(distances)));
  });

  test('a WireError round-trips with its SQLSTATE and fields', () => {
    const errors: WireError[] = [
      { code: '57014', message: 'replica of shard d/0 did not apply seq 9 within 100 ms', severity: 'ERROR' },
      { code: '53100', message: 'disk full', detail: 'No space left on device', hint: 'Check free disk space.', severity: 'ERROR' },
    ];
    for (const error of errors) assert.deepEqual(decodeReply('search', encodeError(error, limits), limits), { ok: false, error });
  });
});

describe('worker codec: bad input', () => {
  const good = encodeRequest(requests[2]!, limits);
  const frame = (json: unknown, blobs: Buffer[] = [], header = [1, 0, 1, 0]): Buffer => {
    const text = Buffer.from(JSON.stringify(json));
    const h = Buffer.alloc(8);
    Buffer.from(header).copy(h);
    h.writeUInt32LE(text.length, 4);
    return Buffer.concat([h, text, ...blobs]);
  };

  test('truncated, wrong version, unknown flags or kind', () => {
    expectMalformed(() => decodeRequest(good.subarray(0, 5), limits), /shorter than its header/);
    expectMalformed(() => decodeRequest(good.subarray(0, good.length - 3), limits), /blobs declare \d+ bytes but \d+ follow/);
    expectMalformed(() => decodeRequest(Buffer.concat([Buffer.from([2]), good.subarray(1)]), limits), /version 2, expected 1/);
    expectMalformed(() => decodeRequest(Buffer.concat([Buffer.from([1, 4]), good.subarray(2)]), limits), /unknown flags 4/);
    expectMalformed(() => decodeRequest(Buffer.concat([Buffer.from([1, 0, 9]), good.subarray(3)]), limits), /unknown kind 9/);
    expectMalformed(() => decodeReply('write', good, limits), /kind 1 where 2 was expected/);
  });

  test('JSON that does not parse, or lies about its length', () => {
    const h = Buffer.alloc(8);
    h.writeUInt8(1, 0); h.writeUInt8(1, 2); h.writeUInt32LE(5, 4);
    expectMalformed(() => decodeRequest(Buffer.concat([h, Buffer.from('{nope')]), limits), /does not parse/);
    h.writeUInt32LE(500, 4);
    expectMalformed(() => decodeRequest(Buffer.concat([h, Buffer.from('{}')]), limits), /JSON part \(500 bytes\) is longer/);
  });

  test('fields of the wrong type are named', () => {
    expectMalformed(() => decodeRequest(frame({ m: { type: 'drop', shard: 's' }, b: [] }), limits), /request\.type is not one of open/);
    expectMalformed(() => decodeRequest(frame({ m: { type: 'get', shard: 1, id: 'a' }, b: [] }), limits), /request\.shard is not a string/);
    expectMalformed(() => decodeRequest(frame({ m: { type: 'decide', shard: 's', txid: -1, commit: true }, b: [] }), limits), /request\.txid is not a non-negative integer/);
    expectMalformed(() => decodeRequest(frame({ m: { type: 'get', shard: 's', id: 'a', read: { minSeq: 1 } }, b: [] }), limits), /request\.read\.waitMs is not a finite number/);
    expectMalformed(() => decodeRequest(frame({ m: { type: 'open', shard: 's', dir: 'd', spec: { ...spec, metric: 'hamming' }, committed: [] }, b: [] }), limits), /request\.spec\.metric is not one of/);
    expectMalformed(() => decodeRequest(frame({ m: ['x'], b: [] }), limits), /request is not an object/);
    expectMalformed(() => decodeReply('stats', frame({ m: { value: { ...stats, count: 'many' } }, b: [] }, [], [1, 0, 2, 0]), limits), /stats result\.value\.count/);
    expectMalformed(() => decodeReply('search', frame({ m: { code: 'ZZ999', message: 'x', severity: 'ERROR' }, b: [] }, [], [1, 0, 3, 0]), limits), /not a known SQLSTATE/);
  });

  test('vector blobs that do not fit their rows', () => {
    const upsert = (ids: string[], floats: number) => frame({ m: { type: 'write', shard: 's', upsert: { ids, payloads: ids.map(() => null) } }, b: [floats * 4] }, [Buffer.alloc(floats * 4)]);
    expectMalformed(() => decodeRequest(upsert(['a', 'b'], 3), limits), /3 floats for 2 ids/);
    expectMalformed(() => decodeRequest(upsert(['a'], 0), limits), /0 floats for 1 ids/);
    expectMalformed(() => decodeRequest(frame({ m: { type: 'search', shard: 's', k: 1, options: {} }, b: [6] }, [Buffer.alloc(6)]), limits), /request\.query has 6 bytes, not a multiple of 4/);
    expectMalformed(() => decodeRequest(frame({ m: { type: 'search', shard: 's', k: 1, options: {} }, b: [] }), limits), /request\.query is missing/);
    expectMalformed(() => decodeReply('search', frame({ m: { ids: ['a'], payloads: [null] }, b: [16] }, [Buffer.alloc(16)], [1, 0, 2, 0]), limits), /1 ids, 1 payloads and 2 distances/);
  });

  test('bad gzip data', () => {
    expectMalformed(() => decodeRequest(Buffer.concat([Buffer.from([1, 1, 1, 0, 0, 0, 0, 0]), Buffer.from('not gzip')]), limits), /bad gzip data/);
  });
});

describe('worker codec: size limits', () => {
  const small = { maxBytes: 4096, gzipMinBytes: 0 };
  const tooLarge = (err: unknown) => err instanceof VectorgateError && err.code === '54000' && /exceeds the limit of 4096 bytes \(grpcMaxMessageBytes\)/.test(err.message);

  test('a request or reply over the limit is refused when encoding, before gzip', () => {
    const query = new Float32Array(2000);
    assert.throws(() => encodeRequest({ type: 'search', shard: 's', query, k: 1, options: {} }, small), tooLarge);
    // Zeros gzip to almost nothing, but the receiver would inflate them past its limit: refused too.
    assert.throws(() => encodeRequest({ type: 'search', shard: 's', query, k: 1, options: {} }, { ...small, gzipMinBytes: 1 }), tooLarge);
    const many = Array.from({ length: 200 }, (_, i) => ({ id: `id-${i}`, distance: i, payload: null }));
    assert.throws(() => encodeResult('search', many, small), tooLarge);
  });

  test('a received message over the limit is refused, also when it inflates past it', () => {
    const big = encodeRequest({ type: 'search', shard: 's', query: new Float32Array(2000), k: 1, options: {} }, limits);
    assert.throws(() => decodeRequest(big, small), tooLarge);
    const bomb = Buffer.concat([big.subarray(0, 8), gzipSync(big.subarray(8))]);
    bomb.writeUInt8(1, 1);
    assert.ok(bomb.length < 4096);
    assert.throws(() => decodeRequest(bomb, small), tooLarge);
    assert.equal(decodeRequest(bomb, limits).type, 'search');
  });
});

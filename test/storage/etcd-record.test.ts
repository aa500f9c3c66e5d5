import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { SqlState, VectorgateError } from '../../src/errors.ts';
import { decodeEtcdRecord, encodeEtcdRecord, ETCD_RECORD_HEADER_BYTES, recordKeySuffix, requestIdOf } from '../../src/storage/etcd-record.ts';
import { decodeBody, encodeBody } from '../../src/storage/record-codec.ts';

const requestId = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const body = encodeBody(2, [{ op: 'upsert', id: 'ä', vector: Float32Array.of(1, -2), payload: '{"a":1}' }, { op: 'delete', id: 'x' }]);
const key = (seq: number) => `/vectorgate/log/d1/0/${recordKeySuffix(seq)}`;
const damaged = (message: RegExp) => (err: unknown) => err instanceof VectorgateError && err.code === SqlState.DataCorrupted && message.test(err.message);

describe('etcd log record', () => {
  test('round-trips seq, request id and a record-codec body; keys sort by seq', () => {
    const value = encodeEtcdRecord(42, requestId, body);
    assert.equal(value.length, ETCD_RECORD_HEADER_BYTES + body.length);
    const record = decodeEtcdRecord(key(42), value);
    assert.equal(record.seq, 42);
    assert.deepEqual(record.requestId, requestId);
    assert.deepEqual(decodeBody(record.body), decodeBody(body));
    assert.deepEqual(requestIdOf(value), requestId);
    assert.ok(key(9) < key(10) && key(99_999) < key(100_000));
  });

  test('a flipped byte anywhere in the id or body fails the checksum', () => {
    for (const at of [1, 16, ETCD_RECORD_HEADER_BYTES, ETCD_RECORD_HEADER_BYTES + body.length - 1]) {
      const value = encodeEtcdRecord(7, requestId, body);
      value[at]! ^= 0x40;
      assert.throws(() => decodeEtcdRecord(key(7), value), damaged(/checksum mismatch/), `byte ${at}`);
    }
  });

  test('a record under another seq\'s key is caught', () => {
    assert.throws(() => decodeEtcdRecord(key(8), encodeEtcdRecord(7, requestId, body)), damaged(/holds the record of seq 7/));
  });

  test('truncated values and unknown versions are damaged, not misread', () => {
    const value = encodeEtcdRecord(3, requestId, body);
    assert.throws(() => decodeEtcdRecord(key(3), value.subarray(0, 10)), damaged(/shorter than a record header/));
    assert.throws(() => decodeEtcdRecord(key(3), value.subarray(0, value.length - 1)), damaged(/header says/));
    const v2 = Buffer.from(value);
    v2[0] = 2;
    assert.throws(() => decodeEtcdRecord(key(3), v2), damaged(/unknown record version 2/));
    assert.equal(requestIdOf(value.subarray(0, 5)), null);
  });
});

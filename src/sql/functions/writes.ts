// Writes: one row, a jsonb batch, or a delete. Each returns the number of rows affected (bigint), like
// the row count of INSERT/DELETE, and returns only once the write is durable.
import { SqlState, VectorgateError } from '../../errors.ts';
import type { ExecContext } from '../local-plan.ts';
import type { Row } from '../../router/collections.ts';
import { INT8 } from '../pg-types.ts';
import { vectorFromJson } from '../vector-input.ts';
import { collectionsOf, type LocalFunction } from './types.ts';
import type { Privilege } from '../access-types.ts';
import type { DatabaseCollections } from '../../router/database-collections.ts';
import { writeBytes } from '../tenant.ts';

/**
 * Vector writes are durable when the call returns and ROLLBACK does not undo them (yet): say so at
 * the first one inside a transaction block, instead of letting a ROLLBACK mislead silently.
 */
export function warnIfInTransactionBlock(ctx: ExecContext): void {
  if (ctx.transactionStatus === 'I') return;
  ctx.noticeOncePerTransaction('vector-writes-not-transactional', {
    severity: 'WARNING',
    code: SqlState.Warning,
    message: 'vector writes are not transactional: this write is durable now and ROLLBACK will not undo it',
    detail: 'vector_upsert, vector_delete and COPY into a collection commit on their own, inside or outside a transaction block.',
  });
}

/** An upsert inserts or replaces, so it needs both, as INSERT … ON CONFLICT DO UPDATE does (COPY too). */
export const UPSERT: readonly Privilege[] = ['INSERT', 'UPDATE'];

export const upsert: LocalFunction = {
  name: 'vector_upsert',
  set: false,
  columns: [{ name: 'vector_upsert', type: INT8 }],
  overloads: [
    {
      params: [
        { name: 'collection', kind: 'text' }, { name: 'id', kind: 'text' },
        { name: 'vector', kind: 'vector' }, { name: 'payload', kind: 'jsonb', optional: true },
      ],
      async run(ctx, a) {
        await ctx.access.require(a.text('collection'), UPSERT);
        warnIfInTransactionBlock(ctx);
        const row = { id: a.text('id'), vector: a.vector('vector'), payload: a.optJson('payload') ?? null };
        const ack = await admittedUpsert(ctx, a.text('collection'), [row]);
        return [[ack.rows]];
      },
    },
    {
      params: [{ name: 'collection', kind: 'text' }, { name: 'rows', kind: 'jsonb' }],
      async run(ctx, a) {
        const rows = batchRows(a.json('rows'));
        await ctx.access.require(a.text('collection'), UPSERT);
        warnIfInTransactionBlock(ctx);
        const ack = await admittedUpsert(ctx, a.text('collection'), rows);
        return [[ack.rows]];
      },
    },
  ],
};

/** Upserts rows once the tenant's quotas admit them (rows per second, caps on vectors and bytes). */
async function admittedUpsert(ctx: ExecContext, name: string, rows: Row[]): ReturnType<DatabaseCollections['upsert']> {
  const collections = collectionsOf(ctx);
  const dims = collections.spec(name)?.dims ?? 0;
  await ctx.tenant.admitWrite({ database: collections.database, collection: name, rows: rows.length, bytes: writeBytes(rows, dims) }, ctx.signal);
  return collections.upsert(name, rows);
}

/** `[{"id": "a", "vector": [...], "payload": {...}}, ...]`; ids may be JSON numbers. */
export function batchRows(json: string): Row[] {
  const value: unknown = JSON.parse(json);
  if (!Array.isArray(value)) throw new VectorgateError(SqlState.InvalidParameterValue, 'rows must be a jsonb array of {"id", "vector", "payload"} objects');
  return value.map((item: unknown, i) => {
    const fail = (what: string): never => {
      throw new VectorgateError(SqlState.InvalidParameterValue, `rows element ${i}: ${what}`);
    };
    if (typeof item !== 'object' || item === null || Array.isArray(item)) fail('must be an object');
    const { id, vector, payload, ...rest } = item as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) fail(`unknown key "${extra[0]}" (expected id, vector, payload)`);
    if (typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) fail('id must be a string or a number');
    if (vector === undefined) fail('vector is missing');
    return { id: String(id), vector: vectorFromJson(vector), payload: payload ?? null };
  });
}

export const remove: LocalFunction = {
  name: 'vector_delete',
  set: false,
  columns: [{ name: 'vector_delete', type: INT8 }],
  overloads: [{
    params: [{ name: 'collection', kind: 'text' }, { name: 'id', kind: 'text' }],
    async run(ctx, a) {
      const collections = collectionsOf(ctx);
      const name = a.text('collection');
      const id = a.text('id');
      await ctx.access.require(name, ['DELETE']);
      warnIfInTransactionBlock(ctx);
      // Like DELETE's row count: 0 when there was no such row (the delete is logged either way).
      const existed = (await collections.get(name, id)) !== null;
      await ctx.tenant.admitDelete(1, ctx.signal);
      await collections.delete(name, [id]);
      return [[existed ? 1 : 0]];
    },
  }],
};

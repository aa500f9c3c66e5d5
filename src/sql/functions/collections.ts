// Creating, dropping and listing collections.
import type { EngineKind, Metric, Quantization } from '../../engine/vector-index.ts';
import { BOOL, INT4, INT8, JSONB, TEXT, TIMESTAMPTZ } from '../pg-types.ts';
import { collectionsOf, type LocalFunction } from './types.ts';
import { SqlState, VectorgateError } from '../../errors.ts';
import { checkCreateSpec } from '../../router/validate.ts';
import type { ExecContext, Notice } from '../local-plan.ts';
import type { CollectionInfo, CreateSpec } from '../../router/collections.ts';

/**
 * The relation vectorgate.<name> first (committed: it carries the owner and the grants), then the
 * collection's files and catalog entry; if those fail, the relation goes again. A crash in between
 * leaves a relation without a collection, which the next create of that name names (42P07).
 */
async function createWithRelation(ctx: ExecContext, spec: CreateSpec & { owner: string }): Promise<CollectionInfo> {
  await ctx.access.createRelation(spec.name);
  try {
    return await collectionsOf(ctx).createCollection(spec);
  } catch (err) {
    await ctx.access.dropRelation(spec.name).catch(() => undefined);
    throw err;
  }
}

/**
 * The embedded default hosts one copy of each shard whatever a collection asks for; the number is
 * kept in the catalog for the cluster, which places that many.
 */
function fewerReplicasNotice(name: string, replicas: number, served: number): Notice {
  return {
    severity: 'NOTICE', code: SqlState.SuccessfulCompletion,
    message: `collection "${name}" keeps ${served === 1 ? 'one replica' : `${served} replicas`} of each shard here, not ${replicas}`,
    detail: `The embedded deployment runs ${served} replica per shard; replicas = ${replicas} is stored and applies in cluster mode.`,
  };
}

/** Returns the new collection's settings as jsonb, so the caller sees every default that was applied. */
export const createCollection: LocalFunction = {
  name: 'vector_create_collection',
  set: false,
  columns: [{ name: 'vector_create_collection', type: JSONB }],
  overloads: [{
    params: [
      { name: 'name', kind: 'text' }, { name: 'dimensions', kind: 'int' },
      { name: 'metric', kind: 'text', optional: true }, { name: 'shards', kind: 'int', optional: true },
      { name: 'quantization', kind: 'text', optional: true }, { name: 'm', kind: 'int', optional: true },
      { name: 'ef_construction', kind: 'int', optional: true }, { name: 'engine', kind: 'text', optional: true },
      { name: 'replicas', kind: 'int', optional: true },
    ],
    async run(ctx, a) {
      const collections = collectionsOf(ctx);
      const spec = {
        name: a.text('name'),
        dims: a.int('dimensions'),
        metric: a.optText('metric')?.toLowerCase() as Metric | undefined,
        shards: a.optInt('shards'),
        quantization: a.optText('quantization')?.toLowerCase() as Quantization | undefined,
        m: a.optInt('m'),
        efConstruction: a.optInt('ef_construction'),
        engine: a.optText('engine')?.toLowerCase() as EngineKind | undefined,
        replicas: a.optInt('replicas'),
      };
      // PostgreSQL's order for CREATE TABLE: the name and options, the schema privilege, then the catalog.
      checkCreateSpec(spec, collections.config);
      await ctx.access.requireCreate();
      if (collections.spec(spec.name) !== undefined) throw new VectorgateError(SqlState.DuplicateObject, `collection "${spec.name}" already exists`);
      const owner = (await ctx.access.principal()).currentUser;
      await ctx.tenant.admitCreate(owner);
      const info = await createWithRelation(ctx, { ...spec, owner });
      const { name, dims, metric, shards, replicas, quantization, m, efConstruction, engine } = info;
      const served = collectionsOf(ctx).maxServedReplicas;
      if (served !== null && replicas > served) ctx.notice(fewerReplicasNotice(name, replicas, served));
      return [[{ name, dimensions: dims, metric, shards, replicas, quantization, m, ef_construction: efConstruction, engine }]];
    },
  }],
};

/** Returns true; an unknown collection is 42P01, as DROP TABLE of a missing table is. */
export const dropCollection: LocalFunction = {
  name: 'vector_drop_collection',
  set: false,
  columns: [{ name: 'vector_drop_collection', type: BOOL }],
  overloads: [{
    params: [{ name: 'name', kind: 'text' }],
    async run(ctx, a) {
      const name = a.text('name');
      await ctx.access.require(name, ['OWNER']);
      // The relation's drop commits at once: not before the collection can go too (one recovering waits).
      await collectionsOf(ctx).droppable(name);
      await ctx.access.dropRelation(name);
      await collectionsOf(ctx).dropCollection(name);
      return [[true]];
    },
  }],
};

export const listCollections: LocalFunction = {
  name: 'vector_collections',
  set: true,
  columns: [
    { name: 'name', type: TEXT }, { name: 'dimensions', type: INT4 }, { name: 'metric', type: TEXT },
    { name: 'shards', type: INT4 }, { name: 'replicas', type: INT4 }, { name: 'quantization', type: TEXT }, { name: 'm', type: INT4 },
    { name: 'ef_construction', type: INT4 }, { name: 'engine', type: TEXT }, { name: 'vectors', type: INT8 }, { name: 'indexed_vectors', type: INT8 },
    { name: 'policies', type: JSONB }, { name: 'created_at', type: TIMESTAMPTZ },
  ],
  overloads: [{
    params: [],
    async run(ctx) {
      const all = await collectionsOf(ctx).listCollections();
      const visible = await ctx.access.visible(all.map((c) => c.name));
      return all.filter((c) => visible.has(c.name))
        .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
        .map((c) => [c.name, c.dims, c.metric, c.shards, c.replicas, c.quantization, c.m, c.efConstruction, c.engine, c.vectors, c.indexedVectors, c.policies, c.createdAt]);
    },
  }],
};

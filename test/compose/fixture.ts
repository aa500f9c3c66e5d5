// Seeded data for the composed-statement tests: a collection 'docs' of 500 vectors (dim 16, two
// shards) whose payloads carry a language, a real table `documents` whose ids match most of them (some
// vectors have no row and some rows no vector, so inner and outer joins differ), and an empty collection.
// Expected answers are made in two steps, as a user would without composition: the search alone through
// the proxy, then the relational part in JS over the table read straight from PostgreSQL.
import pg from 'pg';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import { seeded, randomInt, type Random } from '../helpers/random.ts';
import type { ClientTarget } from '../helpers/client-target.ts';

export const DIMS = 16;
export const COUNT = 500;
export const LANGS = ['en', 'de', 'fr'] as const;

export interface Doc { id: string; title: string; published: boolean; lang: string }
export interface Hit { id: string; distance: number; payload: { lang: string; n: number } }

export interface Fixture {
  stack: Stack;
  /** Rows of `documents` by id, read from PostgreSQL directly. */
  docs: Map<string, Doc>;
  random: Random;
  /** A client of the proxy for the first step of the two-step answers. */
  plain: pg.Client;
  target(): ClientTarget;
  stop(): Promise<void>;
}

export const docId = (i: number): string => `doc-${String(i).padStart(3, '0')}`;

export function randomVector(random: Random): number[] {
  // Rounded to float4-exact values so the text form sent and the vector stored are the same numbers.
  return Array.from({ length: DIMS }, () => Math.fround(random() * 2 - 1));
}

/** pgvector's text form, which every client can send as a string. */
export const vectorText = (v: readonly number[]): string => `[${v.join(',')}]`;

export function proxyConfig(stack: Stack, extra: pg.ClientConfig = {}): pg.ClientConfig {
  return { host: stack.proxyHost, port: stack.proxyPort, user: ROLES.scram.user, password: ROLES.scram.password, database: DATABASE, ...extra };
}

export async function startFixture(seed: number): Promise<Fixture> {
  const stack = await startStack();
  const random = seeded(seed);
  const docs = new Map<string, Doc>();
  let plain: pg.Client | null = null;
  try {
    await stack.app.createCollection({ name: 'docs', dims: DIMS, metric: 'l2', shards: 2, owner: ROLES.scram.user });
    await stack.app.createCollection({ name: 'empty', dims: DIMS, metric: 'l2', shards: 1, owner: ROLES.scram.user });
    const rows = [];
    // Vectors 0..479 have a documents row; 480..499 do not; rows 500..519 have no vector.
    for (let i = 0; i < COUNT + 20; i++) {
      const lang = LANGS[randomInt(random, LANGS.length)]!;
      if (i < COUNT) rows.push({ id: docId(i), vector: randomVector(random), payload: { lang, n: i } });
      if (i < COUNT - 20 || i >= COUNT) docs.set(docId(i), { id: docId(i), title: `title ${i}`, published: random() < 0.6, lang });
    }
    for (let at = 0; at < rows.length; at += 100) await stack.app.upsert('docs', rows.slice(at, at + 100));
    const admin = await stack.cluster.admin(DATABASE);
    try {
      await admin.query('CREATE TABLE documents (id text PRIMARY KEY, title text, published bool, lang text)');
      await admin.query('ALTER TABLE documents OWNER TO alice');
      await admin.query(
        'INSERT INTO documents SELECT * FROM unnest($1::text[], $2::text[], $3::bool[], $4::text[])',
        [[...docs.keys()], [...docs.values()].map((d) => d.title), [...docs.values()].map((d) => d.published), [...docs.values()].map((d) => d.lang)],
      );
    } finally {
      await admin.end();
    }
    plain = new pg.Client(proxyConfig(stack));
    await plain.connect();
  } catch (err) {
    await plain?.end();
    await stack.stop();
    throw err;
  }
  const client = plain;
  return {
    stack,
    docs,
    random,
    plain: client,
    target: () => ({ kind: 'vectorgate', host: stack.proxyHost, port: stack.proxyPort, cluster: stack.cluster, stop: async () => {} }),
    async stop() {
      await client.end();
      await stack.stop();
    },
  };
}

/** Step one of a two-step answer: the search on its own, through the proxy. */
export async function searchAlone(fx: Fixture, collection: string, vector: readonly number[], k: number, filter?: object): Promise<Hit[]> {
  const result = filter === undefined
    ? await fx.plain.query(`SELECT * FROM vector_search($1, $2, $3)`, [collection, vectorText(vector), k])
    : await fx.plain.query(`SELECT * FROM vector_search($1, $2, $3, filter => $4)`, [collection, vectorText(vector), k, JSON.stringify(filter)]);
  return result.rows as Hit[];
}

/** Step two, the usual join: hits with their documents row (inner join), nearest first. */
export function joinDocs(fx: Fixture, hits: Hit[], where: (doc: Doc, hit: Hit) => boolean = () => true): { hit: Hit; doc: Doc }[] {
  return hits
    .map((hit) => ({ hit, doc: fx.docs.get(hit.id) }))
    .filter((pair): pair is { hit: Hit; doc: Doc } => pair.doc !== undefined && where(pair.doc, pair.hit))
    .sort((a, b) => a.hit.distance - b.hit.distance || a.hit.id.localeCompare(b.hit.id));
}

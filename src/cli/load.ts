// `vectorgate load FILE --collection NAME [--url URL] [--batch-size N] [--create --dims D --metric M
// --shards S --quantization Q]`: loads .fvecs/.jsonl/.csv through a running proxy with COPY, as any
// client would, with a progress bar on stderr.
import cliProgress from 'cli-progress';
import pg from 'pg';
import type { Command } from './options.ts';
import { copySource } from './load-copy.ts';
import { openSource, type Source } from './load-sources.ts';

/** Rows per COPY statement: at its end all its rows are durable (and the next can resume after it). */
const DEFAULT_BATCH_ROWS = 50_000;

export interface LoadArgs {
  file: string;
  collection: string;
  url: string | null;
  batchSize: number;
  create: { dims: number | null; metric: string | null; shards: number | null; quantization: string | null } | null;
}

export function loadArgs(command: Command): LoadArgs {
  const { flags, positionals } = command;
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) throw new Error('usage: vectorgate load FILE --collection NAME [--url postgres://…] [--batch-size N]');
  if (typeof flags.collection !== 'string' || flags.collection === '') throw new Error('load needs --collection NAME');
  const batchSize = flags['batch-size'] === undefined ? DEFAULT_BATCH_ROWS : Number(flags['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`--batch-size must be a positive integer, got ${String(flags['batch-size'])}`);
  const int = (name: string): number | null => {
    if (flags[name] === undefined) return null;
    const n = Number(flags[name]);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${String(flags[name])}`);
    return n;
  };
  const text = (name: string): string | null => (typeof flags[name] === 'string' ? flags[name] as string : null);
  return {
    file,
    collection: flags.collection,
    url: text('url'),
    batchSize,
    create: flags.create === true ? { dims: int('dims'), metric: text('metric'), shards: int('shards'), quantization: text('quantization') } : null,
  };
}

/** Without --url: the proxy's own address, and libpq's PG* variables for user, password and database. */
function connect(args: LoadArgs, command: Command): pg.Client {
  if (args.url !== null) return new pg.Client({ connectionString: args.url });
  return new pg.Client({ host: command.config.listenHost, port: command.config.listenPort });
}

export async function runLoad(command: Command): Promise<void> {
  const args = loadArgs(command);
  const source = openSource(args.file);
  const client = connect(args, command);
  await client.connect();
  try {
    await ensureCollection(client, args, source);
    const rows = await copyWithProgress(client, args, source);
    process.stderr.write(`${rows.summary}\n`);
  } finally {
    await client.end();
  }
}

async function ensureCollection(client: pg.Client, args: LoadArgs, source: Source): Promise<void> {
  const listed = await client.query<{ name: string; dimensions: number }>('SELECT name, dimensions FROM vector_collections()');
  const existing = listed.rows.find((r) => r.name === args.collection);
  const fileDims = await source.dims();
  if (existing === undefined) {
    if (args.create === null) throw new Error(`collection "${args.collection}" does not exist (add --create --dims D --metric cosine|l2|ip to create it)`);
    const dims = args.create.dims ?? fileDims;
    if (dims === null) throw new Error('--create needs --dims: the file has no rows to take it from');
    const named = [['metric', args.create.metric], ['shards', args.create.shards], ['quantization', args.create.quantization]] as const;
    const values: unknown[] = [args.collection, dims];
    const extra = named.filter(([, v]) => v !== null).map(([k, v]) => { values.push(v); return `, ${k} => $${values.length}`; }).join('');
    await client.query(`SELECT vector_create_collection($1, $2${extra})`, values);
    return;
  }
  if (fileDims !== null && existing.dimensions !== fileDims) {
    throw new Error(`collection "${args.collection}" has ${existing.dimensions} dimensions, the file's vectors have ${fileDims}`);
  }
}

async function copyWithProgress(client: pg.Client, args: LoadArgs, source: Source): Promise<{ rows: number; summary: string }> {
  const bar = new cliProgress.SingleBar({
    format: `${args.collection} |{bar}| {percentage}% | {rows} rows | {rate} rows/s | {duration_formatted}`,
    stream: process.stderr,
    // Without a terminal (CI logs, a parent process) print a line every few seconds instead.
    noTTYOutput: true,
    notTTYSchedule: 5000,
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  const started = performance.now();
  const rate = (rows: number) => Math.round(rows / Math.max(1e-3, (performance.now() - started) / 1000));
  bar.start(Math.max(1, source.bytes), 0, { rows: 0, rate: 0 });
  let rows: number;
  try {
    rows = await copySource(client, args.collection, source, args.batchSize, (p) => bar.update(p.bytes, { rows: p.rows, rate: rate(p.rows) }));
    bar.update(Math.max(1, source.bytes), { rows, rate: rate(rows) });
  } finally {
    bar.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  return { rows, summary: `loaded ${rows} rows into ${args.collection} in ${seconds.toFixed(1)} s (${rate(rows)} rows/s), every row durable` };
}

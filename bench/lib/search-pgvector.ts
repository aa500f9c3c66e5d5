// The same workload on pgvector, when the upstream PostgreSQL has the extension: COPY into a table,
// CREATE INDEX … USING hnsw (m, ef_construction as for vectorgate), queries with hnsw.ef_search set per
// connection, straight to PostgreSQL.
import type pg from 'pg';
import { copyBase, endAll, connectAll, runQueries, vectorText } from './search-sql.ts';
import { row, type Dataset } from './search-data.ts';
import type { Credentials } from './search-proxy.ts';
import type { Measurement } from './search-report.ts';

export async function pgvectorAvailable(client: pg.Client): Promise<boolean> {
  const res = await client.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'vector'`);
  return res.rowCount === 1;
}

export interface PgvectorResult {
  copySeconds: number;
  indexSeconds: number;
  /** pg_total_relation_size of the table (heap, TOAST and the HNSW index) ÷ rows. */
  bytesPerVector: number;
  measurements: Measurement[];
}

export async function runPgvector(port: number, credentials: Credentials, data: Dataset, efs: number[], connections: number[], m: number, efConstruction: number, warmup: number): Promise<PgvectorResult> {
  const ops = data.metric === 'l2' ? 'vector_l2_ops' : data.metric === 'cosine' ? 'vector_cosine_ops' : 'vector_ip_ops';
  const operator = data.metric === 'l2' ? '<->' : data.metric === 'cosine' ? '<=>' : '<#>';
  const [admin] = await connectAll(port, credentials, 1);
  let copySeconds: number;
  let indexSeconds: number;
  let bytesPerVector: number;
  try {
    await admin!.query('CREATE EXTENSION IF NOT EXISTS vector');
    await admin!.query(`CREATE TABLE bench_items (id text, embedding vector(${data.dims}))`);
    copySeconds = await copyBase(admin!, 'COPY bench_items (id, embedding) FROM STDIN (FORMAT binary)', data);
    await admin!.query(`SET maintenance_work_mem = '1GB'`);
    const started = performance.now();
    await admin!.query(`CREATE INDEX ON bench_items USING hnsw (embedding ${ops}) WITH (m = ${m}, ef_construction = ${efConstruction})`);
    indexSeconds = (performance.now() - started) / 1000;
    const size = await admin!.query<{ bytes: string }>(`SELECT pg_total_relation_size('bench_items') AS bytes`);
    bytesPerVector = Number(size.rows[0]!.bytes) / data.baseRows;
  } finally {
    await endAll([admin!]);
  }
  const texts = Array.from({ length: data.queryRows }, (_, q) => vectorText(row(data.queries, data.dims, q)));
  const measurements: Measurement[] = [];
  for (const count of connections) {
    const clients = await connectAll(port, credentials, count);
    try {
      for (const ef of efs) {
        await Promise.all(clients.map((c) => c.query(`SET hnsw.ef_search = ${Math.min(ef, 1000)}`)));
        measurements.push(await runQueries({
          target: 'pgvector', clients, ef, k: 10, warmup,
          statement: `SELECT id FROM bench_items ORDER BY embedding ${operator} $1::vector LIMIT 10`,
          params: (q) => [texts[q]],
        }, data));
      }
    } finally {
      await endAll(clients);
    }
  }
  const [cleanup] = await connectAll(port, credentials, 1);
  // Dropped, so that the next data set of a --synthetic list starts from an empty database.
  await cleanup!.query('DROP TABLE bench_items').finally(() => endAll([cleanup!]));
  return { copySeconds, indexSeconds, bytesPerVector, measurements };
}

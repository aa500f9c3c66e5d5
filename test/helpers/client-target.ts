// Where the client tests connect. Normally through vectorgate (startStack). With
// VECTORGATE_CLIENTS_TARGET=postgres the same tests run against PostgreSQL itself, which proves that
// every expectation is PostgreSQL's own behaviour. There vectorgate_version() is a SQL function of
// the same name, type and value, so the proxy's answer is held to what PostgreSQL itself would say.
import { startStack } from './stack.ts';
import { DATABASE, type TestCluster } from './cluster.ts';
import { readFileSync } from 'node:fs';

export type TargetKind = 'vectorgate' | 'postgres';

export interface ClientTarget {
  kind: TargetKind;
  host: '127.0.0.1';
  port: number;
  cluster: TestCluster;
  /** Set when started with tls: the CA file that verifies the server certificate. */
  tls?: { caFile: string };
  stop(): Promise<void>;
}

export function targetKind(): TargetKind {
  const wanted = process.env.VECTORGATE_CLIENTS_TARGET ?? 'vectorgate';
  if (wanted !== 'vectorgate' && wanted !== 'postgres') {
    throw new Error(`VECTORGATE_CLIENTS_TARGET must be vectorgate or postgres, not ${wanted}`);
  }
  return wanted;
}

export async function startTarget(options: { tls?: boolean } = {}): Promise<ClientTarget> {
  const kind = targetKind();
  // Directly, PostgreSQL itself must serve the TLS: the stack's upstream TLS turns it on with the
  // same test certificate, and the proxy it also starts is simply not used.
  const stack = await startStack(kind === 'vectorgate' ? { tls: options.tls } : { upstreamTls: options.tls });
  if (kind === 'postgres') {
    try {
      await createStandIn(stack.cluster);
    } catch (err) {
      await stack.stop();
      throw err;
    }
  }
  return {
    kind,
    host: stack.proxyHost,
    port: kind === 'vectorgate' ? stack.proxyPort : stack.cluster.port,
    cluster: stack.cluster,
    ...(stack.tls ? { tls: stack.tls } : {}),
    stop: () => stack.stop(),
  };
}

/** A PostgreSQL function standing in for the proxy's own vectorgate_version(). */
async function createStandIn(cluster: TestCluster): Promise<void> {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const admin = await cluster.admin(DATABASE);
  try {
    await admin.query(`CREATE FUNCTION public.vectorgate_version() RETURNS text LANGUAGE sql AS $$ SELECT '${version}'::text $$`);
  } finally {
    await admin.end();
  }
}

// node-postgres clients for the test target, logged in as alice (SCRAM) unless told otherwise.
import pg from 'pg';
import { ROLES, DATABASE } from '../helpers/cluster.ts';
import type { ClientTarget } from '../helpers/client-target.ts';

export function pgConfig(target: ClientTarget, extra: pg.ClientConfig = {}): pg.ClientConfig {
  return {
    host: target.host,
    port: target.port,
    user: ROLES.scram.user,
    password: ROLES.scram.password,
    database: DATABASE,
    ...extra,
  };
}

export async function connectPg(target: ClientTarget, extra: pg.ClientConfig = {}): Promise<pg.Client> {
  const client = new pg.Client(pgConfig(target, extra));
  await client.connect();
  return client;
}

/** The cancel key node-postgres keeps from BackendKeyData (typed as private by @types/pg). */
export function backendKey(client: pg.Client): { processID: number; secretKey: number } {
  const { processID, secretKey } = client as unknown as { processID: number | null; secretKey: number | null };
  if (processID === null || secretKey === null) throw new Error('no BackendKeyData received');
  return { processID, secretKey };
}

/** The error a promise rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; severity?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string; severity?: string };
  }
  throw new Error('expected an error, but the promise resolved');
}

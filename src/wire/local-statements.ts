// Prepared statements and portals of a session, each either local (answered by the proxy) or upstream.
// The extended-protocol rules are PostgreSQL's: https://www.postgresql.org/docs/current/protocol-flow.html
import { BackendCode } from './codes.ts';
import {
  MessageWriter, writeCommandComplete, writeDataRow, writeEmpty, writeParameterDescription, writeRowDescription,
  type FieldDescription,
} from './backend-writer.ts';
import type { Bind } from './frontend-codec.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { encodeValue } from '../sql/pg-types.ts';
import { executeCancellable } from './cancellable.ts';
import { inClientEncoding } from './client-text.ts';
import type { ExecContext, LocalPlan, ResultColumn } from '../sql/local-plan.ts';

export interface LocalStatement { plan: LocalPlan; paramTypes: number[] }

export interface LocalPortal {
  plan: LocalPlan;
  params: Bind['params'];
  paramFormats: number[];
  resultFormats: number[];
  /** Rows computed by the first Execute; later Executes continue from `position` (maxRows). */
  rows: unknown[][] | null;
  commandTag: string;
  position: number;
}

export type Route = 'upstream' | LocalStatement;
export type PortalRoute = 'upstream' | LocalPortal;

export class StatementTable {
  readonly statements = new Map<string, Route>();
  readonly portals = new Map<string, PortalRoute>();

  constructor(private readonly maxEntries: number) {}

  setStatement(name: string, route: Route): void {
    const existing = this.statements.get(name);
    if (name !== '' && existing !== undefined && (existing !== 'upstream' || route !== 'upstream')) {
      throw new VectorgateError(SqlState.DuplicatePreparedStatement, `prepared statement "${name}" already exists`);
    }
    this.limit(this.statements, name);
    this.statements.set(name, route);
  }

  setPortal(name: string, route: PortalRoute): void {
    this.limit(this.portals, name);
    this.portals.set(name, route);
  }

  /** Portals live until the end of the transaction: PostgreSQL drops them at Sync outside a block. */
  dropLocalPortals(): void {
    for (const [name, route] of this.portals) if (route !== 'upstream') this.portals.delete(name);
  }

  private limit(map: Map<string, unknown>, name: string): void {
    if (!map.has(name) && map.size >= this.maxEntries) {
      throw new VectorgateError(SqlState.ConfigurationLimitExceeded, `more than ${this.maxEntries} prepared statements or portals in one session`);
    }
  }
}

export function bindLocal(statement: LocalStatement, bind: Bind): LocalPortal {
  const name = bind.statement;
  const expected = Math.max(statement.plan.paramTypes.length, statement.paramTypes.length);
  if (bind.params.length !== expected) {
    throw new VectorgateError(SqlState.ProtocolViolation,
      `bind message supplies ${bind.params.length} parameters, but prepared statement "${name}" requires ${expected}`);
  }
  const formats = bind.paramFormats;
  if (formats.length > 1 && formats.length !== bind.params.length) {
    throw new VectorgateError(SqlState.ProtocolViolation, `bind message has ${formats.length} parameter formats but ${bind.params.length} parameters`);
  }
  const columns = statement.plan.columns?.length ?? 0;
  if (bind.resultFormats.length > 1 && bind.resultFormats.length !== columns) {
    throw new VectorgateError(SqlState.ProtocolViolation, `bind message has ${bind.resultFormats.length} result formats but query has ${columns} columns`);
  }
  return {
    plan: statement.plan, params: bind.params, paramFormats: formats, resultFormats: bind.resultFormats,
    rows: null, commandTag: '', position: 0,
  };
}

function formatOf(formats: number[], index: number): number {
  if (formats.length === 0) return 0;
  return formats.length === 1 ? formats[0]! : formats[index]!;
}

export function fieldsOf(columns: ResultColumn[], formats: number[]): FieldDescription[] {
  return columns.map((c, i) => ({ name: c.name, typeOid: c.type.oid, typeSize: c.type.size, format: formatOf(formats, i) }));
}

export function describeStatement(w: MessageWriter, statement: LocalStatement): void {
  const types = statement.plan.paramTypes.map((oid, i) => statement.paramTypes[i] || oid);
  writeParameterDescription(w, types);
  describeRows(w, statement.plan.columns, []);
}

export function describeRows(w: MessageWriter, columns: ResultColumn[] | null, formats: number[]): void {
  if (columns === null) writeEmpty(w, BackendCode.NoData);
  else writeRowDescription(w, fieldsOf(columns, formats));
}

/** Where a result's rows go: in chunks of `chunkBytes`, each spilled to the client under backpressure. */
export interface RowOutput {
  chunkBytes: number;
  spill(w: MessageWriter): Promise<void>;
}

/**
 * Encodes rows into `w`, spilling whenever a chunk is full, so a large result never exists whole as bytes.
 * `encoding`: the session's client_encoding, which text values are sent in (client-text.ts).
 */
export async function writeRows(w: MessageWriter, columns: ResultColumn[] | null, rows: unknown[][], formats: number[], out: RowOutput, encoding = 'UTF8'): Promise<void> {
  if (columns === null) return;
  for (const row of rows) {
    writeDataRow(w, columns.map((c, i) => inClientEncoding(encodeValue(c.type, row[i], formatOf(formats, i)), c.type.oid, formatOf(formats, i), encoding)));
    if (w.length >= out.chunkBytes) await out.spill(w);
  }
}

/** Runs (once) and returns the next batch of a portal's rows, honouring Execute's row limit. */
export async function executePortal(w: MessageWriter, portal: LocalPortal, maxRows: number, ctx: ExecContext, out: RowOutput): Promise<void> {
  if (portal.rows === null) {
    const params = portal.params.map((value, i) => ({ value, format: formatOf(portal.paramFormats, i) }));
    const result = await executeCancellable(portal.plan, ctx, params);
    portal.rows = result.rows;
    portal.commandTag = result.commandTag;
  }
  const end = maxRows > 0 ? Math.min(portal.rows.length, portal.position + maxRows) : portal.rows.length;
  await writeRows(w, portal.plan.columns, portal.rows.slice(portal.position, end), portal.resultFormats, out, ctx.clientEncoding);
  portal.position = end;
  if (end < portal.rows.length) writeEmpty(w, BackendCode.PortalSuspended);
  else writeCommandComplete(w, portal.commandTag);
}

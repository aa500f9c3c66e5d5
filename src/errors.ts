// The one place that maps vectorgate's failures to PostgreSQL SQLSTATEs.
// https://www.postgresql.org/docs/current/errcodes-appendix.html
// Every failure a client can see is a VectorgateError: one class, a code from SqlState, and a cause.

export const SqlState = {
  SuccessfulCompletion: '00000',
  Warning: '01000',
  ConnectionFailure: '08006',
  ProtocolViolation: '08P01',
  FeatureNotSupported: '0A000',
  DataException: '22000',
  InvalidParameterValue: '22023',
  NumericValueOutOfRange: '22003',
  NullValueNotAllowed: '22004',
  InvalidTextRepresentation: '22P02',
  InvalidBinaryRepresentation: '22P03',
  BadCopyFileFormat: '22P04',
  ArraySubscriptError: '2202E',
  CharacterNotInRepertoire: '22021',
  UntranslatableCharacter: '22P05',
  NotNullViolation: '23502',
  ActiveSqlTransaction: '25001',
  InFailedTransaction: '25P02',
  InvalidAuthorization: '28000',
  InvalidSchemaName: '3F000',
  SerializationFailure: '40001',
  InvalidPassword: '28P01',
  SyntaxError: '42601',
  UndefinedFunction: '42883',
  UndefinedTable: '42P01',
  DuplicateTable: '42P07',
  UndefinedColumn: '42703',
  DuplicateColumn: '42701',
  UndefinedObject: '42704',
  DuplicateObject: '42710',
  DuplicatePreparedStatement: '42P05',
  DuplicateCursor: '42P03',
  InvalidSqlStatementName: '26000',
  InvalidCursorName: '34000',
  InsufficientPrivilege: '42501',
  InvalidName: '42602',
  ReservedName: '42939',
  ProgramLimitExceeded: '54000',
  DiskFull: '53100',
  TooManyConnections: '53300',
  ConfigurationLimitExceeded: '53400',
  ObjectNotInPrerequisiteState: '55000',
  CantChangeRuntimeParam: '55P02',
  QueryCanceled: '57014',
  IdleSessionTimeout: '57P05',
  AdminShutdown: '57P01',
  CannotConnectNow: '57P03',
  IoError: '58030',
  InternalError: 'XX000',
  DataCorrupted: 'XX001',
} as const;

export type SqlStateCode = (typeof SqlState)[keyof typeof SqlState];
/**
 * COMMERROR is PostgreSQL's "log it, tell the client nothing": a startup-phase failure where the
 * connection simply ends (https://www.postgresql.org/docs/current/error-message-reporting.html).
 */
export type Severity = 'ERROR' | 'FATAL' | 'PANIC' | 'COMMERROR';

export interface ErrorFields {
  detail?: string;
  hint?: string;
  /** Where it happened, as PostgreSQL's CONTEXT line (e.g. "COPY docs, line 3, column vector"). */
  where?: string;
  severity?: Severity;
  cause?: unknown;
}

export class VectorgateError extends Error {
  readonly code: SqlStateCode;
  readonly severity: Severity;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  readonly where: string | undefined;

  constructor(code: SqlStateCode, message: string, fields: ErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = 'VectorgateError';
    this.code = code;
    this.severity = fields.severity ?? 'ERROR';
    this.detail = fields.detail;
    this.hint = fields.hint;
    this.where = fields.where;
  }
}

/**
 * PostgreSQL's own error to one of the proxy's statements (the relation of a collection, a privilege
 * read), passed on with its SQLSTATE as PostgreSQL raised it.
 */
export function upstreamError(fields: { code: string; message: string; detail?: string; hint?: string }): VectorgateError {
  const code = /^[0-9A-Z]{5}$/.test(fields.code) ? fields.code as SqlStateCode : SqlState.InternalError;
  return new VectorgateError(code, fields.message, { detail: fields.detail, hint: fields.hint });
}

/** Anything thrown below the wire becomes a VectorgateError; unknown failures are internal errors. */
export function toVectorgateError(err: unknown): VectorgateError {
  if (err instanceof VectorgateError) return err;
  if (isNoSpace(err)) return fileSystemError(err, 'write to file', (err as NodeJS.ErrnoException).path ?? 'unknown');
  const message = err instanceof Error ? err.message : String(err);
  return new VectorgateError(SqlState.InternalError, `internal error: ${message}`, { cause: err });
}

/** strerror(3)'s words, as PostgreSQL prints them after "%m"; the codes a file system reports for no space. */
const NO_SPACE: Record<string, string> = { ENOSPC: 'No space left on device', EDQUOT: 'Disk quota exceeded' };

/**
 * The one mapping of a failed file operation to a SQLSTATE: no space or quota is 53100 disk_full, any
 * other failure 58030 io_error; the message follows PostgreSQL's `could not <action> "<path>": %m`
 * (e.g. src/backend/storage/smgr/md.c's `could not extend file`). `action` is a phrase such as
 * "extend file", "fsync directory" or "create file"; a VectorgateError is returned as is.
 */
export function fileSystemError(err: unknown, action: string, path: string): VectorgateError {
  if (err instanceof VectorgateError) return err;
  const code = (err as NodeJS.ErrnoException | null)?.code ?? '';
  const noSpace = NO_SPACE[code];
  if (noSpace !== undefined) {
    return new VectorgateError(SqlState.DiskFull, `could not ${action} "${path}": ${noSpace}`,
      { hint: 'Check free disk space.', cause: err });
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new VectorgateError(SqlState.IoError, `could not ${action} "${path}": ${reason}`, { cause: err });
}

/** True for the errno codes that mean the file system is full for this writer. */
export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code ?? '';
  return NO_SPACE[code] !== undefined;
}

export function protocolViolation(message: string): VectorgateError {
  return new VectorgateError(SqlState.ProtocolViolation, message, { severity: 'FATAL' });
}

/**
 * The one mapping of a failed etcd call: the client could not reach a quorum (connection refused,
 * reset, deadline passed) — 08006 connection_failure naming the endpoints, as libpq names the host it
 * could not reach. A VectorgateError is returned as is.
 */
export function etcdUnreachable(err: unknown, endpoints: readonly string[], action: string): VectorgateError {
  if (err instanceof VectorgateError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new VectorgateError(SqlState.ConnectionFailure, `etcd is unreachable: could not ${action} at ${endpoints.join(', ')}: ${reason}`,
    { detail: `endpoints: ${endpoints.join(', ')}`, hint: 'Check that a quorum of the etcd members is running and reachable.', cause: err });
}

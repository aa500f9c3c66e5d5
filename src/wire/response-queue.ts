// The responses a session still expects from the upstream, one entry per forwarded message, in order.
// Counting each message's terminal response is what lets local answers slot in between upstream ones
// at exactly the right place of a pipeline.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY
import { BackendCode, FrontendCode } from './codes.ts';

export const enum Expect {
  /** Simple Query or FunctionCall or Sync: everything up to ReadyForQuery. */
  UntilReady,
  ParseComplete,
  BindComplete,
  /** Describe: RowDescription or NoData (after a ParameterDescription for a statement). */
  Description,
  /** Execute: rows, then CommandComplete / EmptyQueryResponse / PortalSuspended. */
  Completion,
  CloseComplete,
}

export interface Expectation {
  expect: Expect;
  /** Part of the extended protocol: an ErrorResponse makes the upstream skip to Sync. */
  extended: boolean;
  /** Is a Sync (the point where skipping ends). */
  sync: boolean;
  /**
   * Which of this entry's responses the client must not see: 'all' (a poisoning statement), 'ready'
   * (its ReadyForQuery, inside a split Query), 'ok' (everything but an ErrorResponse: an implicit COMMIT).
   */
  swallow: 'none' | 'all' | 'ready' | 'ok';
  sawError: boolean;
  /** For a Sync: how many COPY FROM STDIN sub-protocols the client had ended (CopyDone/CopyFail) when it was sent. */
  copyEndsBefore: number;
  onDone: ((entry: Expectation) => void) | null;
  /** The proxy's own queries read their rows: each DataRow (whole) goes here instead of the client. */
  capture: ((raw: Buffer) => void) | null;
  /** The proxy's own queries read PostgreSQL's error (whole ErrorResponse) to raise it as theirs. */
  captureError: ((raw: Buffer) => void) | null;
  /** DataRows seen, counted only for a statement the debug log samples (else null). */
  rows: number | null;
}

export function expectationFor(code: number): Expect | null {
  switch (code) {
    case FrontendCode.Query:
    case FrontendCode.FunctionCall:
    case FrontendCode.Sync:
      return Expect.UntilReady;
    case FrontendCode.Parse:
      return Expect.ParseComplete;
    case FrontendCode.Bind:
      return Expect.BindComplete;
    case FrontendCode.Describe:
      // Statement: ParameterDescription first (not terminal); both kinds end in RowDescription or NoData.
      return Expect.Description;
    case FrontendCode.Execute:
      return Expect.Completion;
    case FrontendCode.Close:
      return Expect.CloseComplete;
    default:
      return null;
  }
}

/** Messages the server may send at any time, not an answer to any one request. */
export function isAsynchronous(code: number): boolean {
  return code === BackendCode.NoticeResponse || code === BackendCode.NotificationResponse || code === BackendCode.ParameterStatus;
}

export function isTerminal(expect: Expect, code: number): boolean {
  switch (expect) {
    case Expect.UntilReady:
      return code === BackendCode.ReadyForQuery;
    case Expect.ParseComplete:
      return code === BackendCode.ParseComplete || code === BackendCode.ErrorResponse;
    case Expect.BindComplete:
      return code === BackendCode.BindComplete || code === BackendCode.ErrorResponse;
    case Expect.Description:
      return code === BackendCode.RowDescription || code === BackendCode.NoData || code === BackendCode.ErrorResponse;
    case Expect.Completion:
      return code === BackendCode.CommandComplete || code === BackendCode.EmptyQueryResponse ||
        code === BackendCode.PortalSuspended || code === BackendCode.ErrorResponse;
    case Expect.CloseComplete:
      return code === BackendCode.CloseComplete || code === BackendCode.ErrorResponse;
  }
}

/** A FIFO with O(1) push/shift that compacts itself. */
export class ResponseQueue {
  private items: Expectation[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  peek(): Expectation | undefined {
    return this.items[this.head];
  }

  push(entry: Expectation): void {
    this.items.push(entry);
  }

  shift(): Expectation | undefined {
    const entry = this.items[this.head];
    if (entry === undefined) return undefined;
    this.items[this.head] = undefined as unknown as Expectation;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return entry;
  }

  /**
   * The upstream has entered its `copyNumber`-th COPY FROM STDIN: it ignores every Sync the client sent
   * before ending that COPY, so they get no ReadyForQuery. Returns whether a Sync it will answer is still queued.
   * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-COPY
   */
  dropSyncsDuringCopy(copyNumber: number): boolean {
    this.items = this.items.slice(this.head).filter((e) => !(e.sync && e.copyEndsBefore < copyNumber));
    this.head = 0;
    return this.items.some((e) => e.sync);
  }

  /** After an extended-protocol error the upstream answers nothing until Sync: drop those entries. */
  dropUntilSync(): Expectation[] {
    const dropped: Expectation[] = [];
    for (let entry = this.peek(); entry !== undefined && !entry.sync; entry = this.peek()) dropped.push(this.shift()!);
    return dropped;
  }
}

export function newExpectation(expect: Expect, extended: boolean, sync = false): Expectation {
  return { expect, extended, sync, swallow: 'none', sawError: false, copyEndsBefore: 0, onDone: null, capture: null, captureError: null, rows: null };
}

// Composed statements on the wire: the vector calls run here, PostgreSQL runs the rest.
// Simple protocol: the rewritten text goes up as a Query of its own (its ReadyForQuery is not shown).
// Extended protocol: Describe asks PostgreSQL about the statement's shape (vector results empty) and
// merges the parameter types; Bind runs the vector calls with the Bind's values, prepares the rewritten
// statement upstream under a name of the proxy's, and binds the client's portal to it there — so
// Execute, Describe of the portal and Close pass through as for any upstream portal.
import { FrontendCode } from './codes.ts';
import { MessageWriter, writeParameterDescription } from './backend-writer.ts';
import { BodyReader, type Bind } from './frontend-codec.ts';
import { Expect, newExpectation, type Expectation } from './response-queue.ts';
import type { ExecContext, LocalPlan, ParamValue } from '../sql/local-plan.ts';
import type { Session } from './session.ts';
import { cancellable } from './cancellable.ts';
import { clientCString } from './client-text.ts';

const SHAPE_STATEMENT = 'vectorgate_shape';

function expectation(expect: Expect, swallow: Expectation['swallow']): Expectation {
  const entry = newExpectation(expect, true);
  entry.swallow = swallow;
  return entry;
}

function send(session: Session, w: MessageWriter, entries: Expectation[]): Promise<void> {
  const upstream = session.upstream!;
  upstream.write(Buffer.from(w.finish()));
  for (const entry of entries) upstream.expect(entry);
  session.midPipeline = true;
  return upstream.whenIdle();
}

/** Describe of a composed statement: PostgreSQL's RowDescription, parameter types merged with ours. */
export async function describeComposed(session: Session, plan: LocalPlan, declaredTypes: number[]): Promise<void> {
  const shape = plan.compose!.shape();
  const w = new MessageWriter(shape.sql.length + 64);
  w.begin(FrontendCode.Close).byte(0x53).cstring(SHAPE_STATEMENT).end();
  const types = shape.upstreamParams.map((original) => declaredTypes[original] ?? 0);
  clientCString(w.begin(FrontendCode.Parse).cstring(SHAPE_STATEMENT), session, shape.sql).int16(types.length);
  for (const oid of types) w.uint32(oid);
  w.end();
  w.begin(FrontendCode.Describe).byte(0x53).cstring(SHAPE_STATEMENT).end();
  const describe = expectation(Expect.Description, 'none');
  describe.capture = (raw) => {
    const upstreamTypes = readParameterDescription(raw);
    const merged = shape.paramTypes.map((oid, i) => declaredTypes[i] || oid);
    shape.upstreamParams.forEach((original, i) => { if (!merged[original]) merged[original] = upstreamTypes[i] ?? 0; });
    const out = new MessageWriter(16 + merged.length * 4);
    writeParameterDescription(out, merged);
    session.writeClient(out.finish());
  };
  await send(session, w, [expectation(Expect.CloseComplete, 'all'), expectation(Expect.ParseComplete, 'ok'), describe]);
}

function readParameterDescription(raw: Buffer): number[] {
  const reader = new BodyReader(raw, 5);
  const count = reader.uint16();
  return Array.from({ length: count }, () => reader.uint32());
}

/** Bind of a composed statement: runs the vector calls, then prepares and binds upstream. */
export async function bindComposed(session: Session, plan: LocalPlan, bind: Bind, ctx: ExecContext): Promise<void> {
  const params: ParamValue[] = bind.params.map((value, i) => ({ value, format: formatOf(bind.paramFormats, i) }));
  const rewritten = await cancellable(ctx.signal, () => plan.compose!.rewrite(ctx, params));
  const statement = `vectorgate_bound_${bind.portal === '' ? 'unnamed' : bind.portal}`;
  const w = new MessageWriter(rewritten.sql.length + 128);
  // Closing the statement also closes a portal of the same name from an earlier Bind, as PostgreSQL does.
  w.begin(FrontendCode.Close).byte(0x53).cstring(statement).end();
  // The client's declared types go up with the parameters that go up: a value sent in binary must be
  // read as the type it was encoded as (pgjdbc's setInt is a binary int4, even where PostgreSQL alone
  // would infer int8, e.g. for LIMIT $n).
  const declared = declaredTypes(session, bind.statement);
  clientCString(w.begin(FrontendCode.Parse).cstring(statement), session, rewritten.sql).int16(rewritten.upstreamParams.length);
  for (const original of rewritten.upstreamParams) w.uint32(declared[original] ?? 0);
  w.end();
  w.begin(FrontendCode.Bind).cstring(bind.portal).cstring(statement);
  w.int16(rewritten.upstreamParams.length);
  for (const original of rewritten.upstreamParams) w.int16(formatOf(bind.paramFormats, original));
  w.int16(rewritten.upstreamParams.length);
  for (const original of rewritten.upstreamParams) {
    const value = bind.params[original] ?? null;
    if (value === null) w.int32(-1);
    else w.int32(value.length).bytes(value);
  }
  w.int16(bind.resultFormats.length);
  for (const format of bind.resultFormats) w.int16(format);
  w.end();
  session.dispatcherTable().setPortal(bind.portal, 'upstream');
  await send(session, w, [expectation(Expect.CloseComplete, 'all'), expectation(Expect.ParseComplete, 'ok'), expectation(Expect.BindComplete, 'none')]);
}

/** Simple protocol: returns true when PostgreSQL reported an error for the rewritten statement. */
export async function queryComposed(session: Session, plan: LocalPlan, ctx: ExecContext): Promise<boolean> {
  const rewritten = await cancellable(ctx.signal, () => plan.compose!.rewrite(ctx, []));
  const w = new MessageWriter(rewritten.sql.length + 8);
  clientCString(w.begin(FrontendCode.Query), session, rewritten.sql).end();
  const entry = newExpectation(Expect.UntilReady, false);
  entry.swallow = 'ready';
  const done = new Promise<Expectation>((resolve) => { entry.onDone = resolve; });
  session.upstream!.write(w.finish());
  session.upstream!.expect(entry);
  session.upstream!.uncork();
  return (await done).sawError;
}

function declaredTypes(session: Session, name: string): number[] {
  const statement = session.dispatcherTable().statements.get(name);
  return statement === undefined || statement === 'upstream' ? [] : statement.paramTypes;
}

function formatOf(formats: number[], index: number): number {
  if (formats.length === 0) return 0;
  return formats.length === 1 ? formats[0]! : formats[index] ?? 0;
}

// A local statement ends with 57014 as soon as its session is cancelled (CancelRequest) or times out,
// without waiting for work it cannot interrupt (a search already running in a shard worker finishes
// there; its result is dropped).
import { SqlState, VectorgateError, toVectorgateError } from '../errors.ts';
import type { ExecContext, LocalPlan, LocalResult, ParamValue } from '../sql/local-plan.ts';

export function executeCancellable(plan: LocalPlan, ctx: ExecContext, params: ParamValue[]): Promise<LocalResult> {
  const { signal } = ctx;
  if (signal.aborted) return Promise.reject(reasonOf(signal));
  return new Promise<LocalResult>((resolve, reject) => {
    const onAbort = () => reject(reasonOf(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    plan.execute(ctx, params).then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function reasonOf(signal: AbortSignal): VectorgateError {
  return signal.reason instanceof VectorgateError
    ? signal.reason
    : toVectorgateError(signal.reason ?? new VectorgateError(SqlState.QueryCanceled, 'canceling statement due to user request'));
}

// A local statement ends with 57014 as soon as its session is cancelled (CancelRequest) or times out,
// without waiting for work it cannot interrupt (a search already running in a shard worker finishes
// there; its result is dropped).
import { SqlState, VectorgateError, toVectorgateError } from '../errors.ts';
import type { ExecContext, LocalPlan, LocalResult, ParamValue } from '../sql/local-plan.ts';

export function executeCancellable(plan: LocalPlan, ctx: ExecContext, params: ParamValue[]): Promise<LocalResult> {
  return cancellable(ctx.signal, () => plan.execute(ctx, params));
}

/** `work()`'s result, or 57014 as soon as the signal is aborted. */
export function cancellable<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(reasonOf(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reasonOf(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work().then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function reasonOf(signal: AbortSignal): VectorgateError {
  return signal.reason instanceof VectorgateError
    ? signal.reason
    : toVectorgateError(signal.reason ?? new VectorgateError(SqlState.QueryCanceled, 'canceling statement due to user request'));
}

// CircuitBreaker (src/router/rerank/circuit-breaker.ts) through every transition, on a clock the
// tests step: closed → open at the threshold, open refuses until the cool-down ends, half-open lets
// one trial through, the trial closes or reopens it.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { CircuitBreaker } from '../../src/router/rerank/circuit-breaker.ts';
import { RerankCircuitOpenError } from '../../src/router/rerank/reranker.ts';

class FakeClock {
  ms = 1_000;
  readonly now = (): number => this.ms;
}

const ok = (): Promise<string> => Promise.resolve('ok');
const boom = new Error('boom');
const fail = (): Promise<string> => Promise.reject(boom);

/** A call that ends when the test says. */
function pending(): { call: () => Promise<string>; resolve: () => void; reject: () => void; calls: () => number } {
  let calls = 0;
  let settle: { resolve: (v: string) => void; reject: (e: unknown) => void } | null = null;
  return {
    call: () => { calls++; return new Promise<string>((resolve, reject) => { settle = { resolve, reject }; }); },
    resolve: () => settle!.resolve('late'),
    reject: () => settle!.reject(boom),
    calls: () => calls,
  };
}

async function failTimes(breaker: CircuitBreaker, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await assert.rejects(breaker.run('svc', fail), (err) => err === boom);
}

async function refused(breaker: CircuitBreaker, retryInMs: number): Promise<void> {
  let called = false;
  await assert.rejects(breaker.run('svc', () => { called = true; return ok(); }), (err: unknown) => {
    assert.ok(err instanceof RerankCircuitOpenError, String(err));
    assert.equal(err.target, 'svc');
    assert.equal(err.retryInMs, retryInMs);
    return true;
  });
  assert.equal(called, false, 'a refused call is not made');
}

describe('CircuitBreaker', () => {
  test('defaults: opens after 5 consecutive failures, for 10 s', async () => {
    const clock = new FakeClock();
    const breaker = new CircuitBreaker({ now: clock.now });
    await failTimes(breaker, 4);
    assert.deepEqual(breaker.state(), { kind: 'closed', failures: 4 });
    await failTimes(breaker, 1);
    assert.deepEqual(breaker.state(), { kind: 'open', failures: 5, retryInMs: 10_000 });
    await refused(breaker, 10_000);
  });

  test('closed: results pass through; a success resets the count, so only consecutive failures open it', async () => {
    const clock = new FakeClock();
    const breaker = new CircuitBreaker({ failureThreshold: 3, now: clock.now });
    assert.deepEqual(breaker.state(), { kind: 'closed', failures: 0 });
    assert.equal(await breaker.run('svc', ok), 'ok');
    await failTimes(breaker, 2);
    assert.equal(await breaker.run('svc', ok), 'ok');
    assert.deepEqual(breaker.state(), { kind: 'closed', failures: 0 });
    await failTimes(breaker, 2);
    assert.deepEqual(breaker.state(), { kind: 'closed', failures: 2 });
  });

  test('a call that throws synchronously counts as a failure', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, now: new FakeClock().now });
    await assert.rejects(breaker.run('svc', () => { throw boom; }), (err) => err === boom);
    assert.equal(breaker.state().kind, 'open');
  });

  test('open: refused until the cool-down ends, with the time left', async () => {
    const clock = new FakeClock();
    const breaker = new CircuitBreaker({ failureThreshold: 2, openMs: 1_000, now: clock.now });
    await failTimes(breaker, 2);
    await refused(breaker, 1_000);
    clock.ms += 400;
    assert.deepEqual(breaker.state(), { kind: 'open', failures: 2, retryInMs: 600 });
    await refused(breaker, 600);
    clock.ms += 599.5;
    await refused(breaker, 1); // rounded up: not "0 ms" while still open
    clock.ms += 0.5;
    assert.deepEqual(breaker.state(), { kind: 'half-open', failures: 2 });
  });

  test('half-open: one trial; calls during it are refused; its success closes the circuit and resets the count', async () => {
    const clock = new FakeClock();
    const breaker = new CircuitBreaker({ failureThreshold: 2, openMs: 1_000, now: clock.now });
    await failTimes(breaker, 2);
    clock.ms += 1_000;
    const trial = pending();
    const running = breaker.run('svc', trial.call);
    assert.equal(trial.calls(), 1);
    assert.deepEqual(breaker.state(), { kind: 'half-open', failures: 2 });
    await refused(breaker, 0);
    await refused(breaker, 0);
    trial.resolve();
    assert.equal(await running, 'late');
    assert.deepEqual(breaker.state(), { kind: 'closed', failures: 0 });
    assert.equal(await breaker.run('svc', ok), 'ok');
    // Closed again: it takes the full threshold to open it.
    await failTimes(breaker, 1);
    assert.equal(breaker.state().kind, 'closed');
  });

  test('half-open: a failed trial opens the circuit for another openMs, then a new trial may close it', async () => {
    const clock = new FakeClock();
    const breaker = new CircuitBreaker({ failureThreshold: 2, openMs: 1_000, now: clock.now });
    await failTimes(breaker, 2);
    clock.ms += 1_500;
    await failTimes(breaker, 1);
    assert.deepEqual(breaker.state(), { kind: 'open', failures: 3, retryInMs: 1_000 });
    await refused(breaker, 1_000);
    clock.ms += 1_000;
    assert.equal(breaker.state().kind, 'half-open');
    assert.equal(await breaker.run('svc', ok), 'ok');
    assert.deepEqual(breaker.state(), { kind: 'closed', failures: 0 });
  });

  test('calls let through before the circuit opened do not change it when they end after', async () => {
    const clock = new FakeClock();
    const breaker = new CircuitBreaker({ failureThreshold: 2, openMs: 1_000, now: clock.now });
    const slowFailure = pending();
    const slowSuccess = pending();
    const failing = breaker.run('svc', slowFailure.call);
    const succeeding = breaker.run('svc', slowSuccess.call);
    await failTimes(breaker, 2);
    assert.equal(breaker.state().kind, 'open');
    clock.ms += 300;
    slowSuccess.resolve();
    assert.equal(await succeeding, 'late');
    assert.deepEqual(breaker.state(), { kind: 'open', failures: 2, retryInMs: 700 }, 'a straggler\'s success does not close it');
    slowFailure.reject();
    await assert.rejects(failing, (err) => err === boom);
    assert.deepEqual(breaker.state(), { kind: 'open', failures: 2, retryInMs: 700 }, 'nor does its failure extend the cool-down');
  });

  test('a straggler does not end the trial: calls stay refused until the trial itself ends', async () => {
    const clock = new FakeClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 1_000, now: clock.now });
    const straggler = pending();
    const early = breaker.run('svc', straggler.call);
    await failTimes(breaker, 1);
    clock.ms += 1_000;
    const trial = pending();
    const running = breaker.run('svc', trial.call);
    straggler.resolve();
    await early;
    await refused(breaker, 0);
    trial.reject();
    await assert.rejects(running, (err) => err === boom);
    assert.deepEqual(breaker.state(), { kind: 'open', failures: 2, retryInMs: 1_000 });
  });

  test('options are checked', () => {
    assert.throws(() => new CircuitBreaker({ failureThreshold: 0 }), RangeError);
    assert.throws(() => new CircuitBreaker({ failureThreshold: 1.5 }), RangeError);
    assert.throws(() => new CircuitBreaker({ openMs: -1 }), RangeError);
    assert.throws(() => new CircuitBreaker({ openMs: Number.NaN }), RangeError);
  });

  test('the default clock is performance.now', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 60_000 });
    await failTimes(breaker, 1);
    const state = breaker.state();
    assert.equal(state.kind, 'open');
    assert.ok(state.kind === 'open' && state.retryInMs > 0 && state.retryInMs <= 60_000);
  });
});

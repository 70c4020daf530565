import t from 'tap'
import { backoffDelay, sleep } from '../src/backoff.js'

const policy = { initialMs: 1000, maxMs: 60_000 }

t.test('grows exponentially up to the ceiling, jittered between half and all of it', async (t) => {
  t.equal(backoffDelay(0, policy, undefined, () => 1), 1000)
  t.equal(backoffDelay(0, policy, undefined, () => 0), 500)
  t.equal(backoffDelay(3, policy, undefined, () => 1), 8000)
  t.equal(backoffDelay(20, policy, undefined, () => 1), 60_000, 'capped')
  t.equal(backoffDelay(2000, policy, undefined, () => 0), 30_000, 'huge attempt counts do not overflow')
})

t.test('Retry-After is honoured when longer than the backoff, up to the policy maximum (RECEIVER_RETRY_MAX_BACKOFF)', async (t) => {
  t.equal(backoffDelay(0, policy, 45_000, () => 1), 45_000)
  t.equal(backoffDelay(0, policy, 3_600_000, () => 1), 60_000, 'Retry-After: 3600 waits the maximum, not an hour')
  t.equal(backoffDelay(0, policy, Number.POSITIVE_INFINITY, () => 1), 60_000, 'a date far ahead too')
  t.equal(backoffDelay(5, policy, 10, () => 1), 1000, 'a tiny Retry-After does not make us hammer the server')
  t.equal(backoffDelay(0, policy, Number.NaN, () => 1), 1000, 'an unusable value is ignored')
})

t.test('sleep ends early on abort', async (t) => {
  const ac = new AbortController()
  const started = Date.now()
  setTimeout(() => ac.abort(), 20)
  await sleep(10_000, ac.signal)
  t.ok(Date.now() - started < 5000)
  await sleep(10_000, ac.signal) // already aborted: immediate
  t.ok(Date.now() - started < 5000)
})

t.test("the OTLP exporters' policy: initial × multiplier^n, at most the ceiling, up to jitter × step shorter", async (t) => {
  const sdk = { initialMs: 1000, maxMs: 5000, multiplier: 1.5, jitter: 0.2 }
  t.equal(backoffDelay(0, sdk, undefined, () => 1), 1000, 'no jitter at the top')
  t.equal(backoffDelay(0, sdk, undefined, () => 0), 800, '20 % below')
  t.equal(backoffDelay(2, sdk, undefined, () => 1), 2250)
  t.equal(backoffDelay(4, sdk, undefined, () => 1), 5000, 'capped')
  t.equal(backoffDelay(4, sdk, undefined, () => 0), 4000, 'a step at the ceiling is jittered below it, never above')
  t.equal(backoffDelay(10_000, sdk, undefined, () => 0), 4000, 'huge steps do not overflow')
  t.equal(backoffDelay(0, { ...sdk, jitter: 2 }, undefined, () => 0), 0, 'never negative')
})

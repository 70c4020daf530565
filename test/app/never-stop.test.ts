/**
 * Never stop, never skip (issue 11), end to end in process with simulated time: real HTTP to the simulated SIEM API,
 * the real exporter to a real OTLP sink, the real state file. Each case froze or lost events before.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { ReceiverError, StateError } from '../../src/errors.js'
import { METRIC_PREFIX } from '../../src/ops/metrics.js'
import { FileStateStore } from '../../src/state/index.js'
import { H, MIN, T0, assertExactlyOnce, expectedUids, metricTotal, readState, rig } from '../helpers/e2e-rig.js'
import type { Rig } from '../helpers/e2e-rig.js'

/** Where a fresh receiver starts: RECEIVER_START_LOOKBACK (1 h) before T0, on the next minute. */
const START = Date.parse('2026-11-24T11:01:00Z')
const cursorOf = (r: Rig): number => Date.parse(readState(r.stateDir).cursor)
const intervalOf = (q: { query: Record<string, string> }): [number, number] => {
  const [a = '', b = ''] = (q.query.interval ?? '').split('/')
  return [Date.parse(a), Date.parse(b)]
}
/** events_<what>_total over all event types. */
const counted = (exposition: string, what: string): number => metricTotal(exposition, `${METRIC_PREFIX}events_${what}_total`)
const until = async (cond: () => boolean, ms = 15_000): Promise<void> => {
  for (const end = Date.now() + ms; !cond(); ) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Polls on for `hours` of simulated time and checks the receiver kept up: cursor near now, every event once. */
async function keepsUp(t: Test, r: Rig, from: number, toMs: number): Promise<void> {
  const before = r.sim.requests.length
  r.time.advanceTo(toMs)
  await r.time.idle(60_000)
  const cursor = cursorOf(r)
  t.ok(cursor >= toMs - 3 * MIN, `the cursor keeps up with the clock (${new Date(cursor).toISOString()} at ${new Date(toMs).toISOString()})`)
  t.ok(r.sim.requests.length - before >= (toMs - T0) / MIN / 4, `it kept asking (${r.sim.requests.length - before} requests)`)
  t.ok(r.sim.requests.every((q) => intervalOf(q)[1] <= q.at), 'no window ended after the API\'s now')
  assertExactlyOnce(t, r.sink, expectedUids(r.sim, from, cursor), await r.cutOff())
}

t.test('one 400 after catching up (the next window halved to the overlap) does not freeze the loop', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_OVERLAP: '30m' }, 1)
  const app = await r.startApp()
  r.time.advanceTo(T0 + 45 * MIN)
  await r.time.idle()
  r.sim.failNext(1, { status: 400, body: '{"message":"The requested end time is in the future."}' })
  await keepsUp(t, r, START, T0 + 3 * H)
  t.equal(r.sim.requests.filter((q) => q.status === 400).length, 1)
  t.equal((await app.ops.inject('/healthz')).statusCode, 200)
})

t.test('an adaptive shrink below the overlap at the end of a catch-up does not freeze the loop', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_OVERLAP: '30m', RECEIVER_START_LOOKBACK: '3h', RECEIVER_WINDOW_MAX_EVENTS: '200' }, 10)
  await r.startApp()
  await r.time.idle(60_000)
  t.ok(r.logs.some((l) => l.includes('window length adapted')), 'the windows shrank below the overlap')
  const first = intervalOf(r.sim.requests[0] ?? { query: {} })[0]
  await keepsUp(t, r, first, T0 + 90 * MIN)
})

t.test('a state file whose reaskFrom is more than an hour before the cursor', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_OVERLAP: '30m' }, 1)
  writeFileSync(join(r.stateDir, 'state.json'), JSON.stringify({ version: 2, cursor: '2026-11-24T12:00:00Z', reaskFrom: '2026-11-24T10:30:00Z', exportedKeys: {} }))
  await r.startApp()
  await keepsUp(t, r, Date.parse('2026-11-24T10:30:00Z'), T0 + 2 * H)
})

t.test('queryEndTime before the requested end: the cursor stops there and the rest is asked again', async (t) => {
  const r = await rig(t, 'http/protobuf')
  const through = Date.parse('2026-11-24T11:30:00Z')
  // The first answer says "data through 11:30" for a window asked through 12:00, and holds only that.
  r.sim.onRequest((q) => {
    r.sim.onRequest(undefined)
    const [s] = intervalOf(q)
    const body = { queryEndTime: '2026-11-24T11:30:00Z', ...r.sim.eventsIn({ start: new Date(s), end: new Date(through) }) }
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
  })
  await r.startApp()
  // The API said it has no more yet: the rest is asked at the next poll.
  r.time.advanceTo(T0 + MIN)
  await r.time.idle()
  const [s1, e1] = intervalOf(r.sim.requests[0] ?? { query: {} })
  const [s2] = intervalOf(r.sim.requests[1] ?? { query: {} })
  t.same([new Date(s1).toISOString(), new Date(e1).toISOString()], ['2026-11-24T11:01:00.000Z', '2026-11-24T12:00:00.000Z'])
  t.equal(new Date(s2).toISOString(), '2026-11-24T11:30:00.000Z', 'continued from queryEndTime')
  t.ok(r.logs.some((l) => l.includes('answered the window only in part')))
  t.equal(readState(r.stateDir).cursor, '2026-11-24T12:01:00.000Z')
  assertExactlyOnce(t, r.sink, expectedUids(r.sim, START, cursorOf(r)), await r.cutOff())
})

for (const [name, headers] of [
  ['Retry-After: 3600', { 'retry-after': '3600' }],
  ['Retry-After: an HTTP date hours ahead', { 'retry-after': new Date(Date.now() + 5 * H).toUTCString() }],
] as const) {
  t.test(`collector ${name}: waits at most RECEIVER_RETRY_MAX_BACKOFF, shows the wait, stays live`, async (t) => {
    const r = await rig(t, 'http/protobuf', { RECEIVER_RETRY_MAX_BACKOFF: '2m' })
    r.sink.failNext(1, 503, headers)
    const app = await r.startApp()
    await r.time.idle()
    const status = app.status.snapshot(r.time.clock())
    t.match(status.wait, { reason: 'retry_after', what: 'export' })
    t.ok((status.wait?.serverRetryAfterSeconds ?? 0) >= 3600, `the server's value is shown (${status.wait?.serverRetryAfterSeconds} s)`)
    t.ok(Date.parse(status.wait?.until ?? '') <= r.time.clock() + 2 * MIN, `the wait is capped (${status.wait?.until})`)
    t.ok(r.logs.some((l) => /the server asked to retry after \d+ s, waiting \d+ s \(RECEIVER_RETRY_MAX_BACKOFF\)/.test(l)), 'logged with both values')
    t.equal((await app.ops.inject('/healthz')).statusCode, 200)
    r.time.advanceTo(T0 + 3 * MIN)
    await r.time.idle()
    t.equal(readState(r.stateDir).cursor, '2026-11-24T12:03:00.000Z', 'delivered after the capped wait')
    assertExactlyOnce(t, r.sink, expectedUids(r.sim, START, cursorOf(r)), await r.cutOff())
  })
}

t.test('SIEM API 429 with Retry-After: 3600 waits at most RECEIVER_RETRY_MAX_BACKOFF', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_RETRY_MAX_BACKOFF: '2m' })
  r.sim.failNext(1, { status: 429, headers: { 'retry-after': '3600' } })
  const app = await r.startApp()
  await r.time.idle()
  t.match(app.status.snapshot(r.time.clock()).wait, { reason: 'retry_after', what: 'fetch', serverRetryAfterSeconds: 3600 })
  r.time.advanceTo(T0 + 3 * MIN)
  await r.time.idle()
  t.equal(readState(r.stateDir).cursor, '2026-11-24T12:03:00.000Z')
})

t.test('a state file with times ahead of this machine\'s clock: started (no crash loop), said, and judged by the API\'s clock', async (t) => {
  // The cursor follows the API's clock: a machine whose clock is behind it has a cursor "ahead". Refusing that made a
  // restart exit 78 until the clock was fixed.
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['request times ahead', { cursor: '2026-11-24T12:00:00Z', apiRequests: [T0 + 2 * H] }, /1 request time in apiRequests .* taken as now/],
    ['lastEventAt ahead', { cursor: '2026-11-24T12:00:00Z', lastEventAt: '2026-11-25T00:00:00Z' }, /lastEventAt 2026-11-25T00:00:00Z is \d+ min ahead of this machine's clock: taken as now/],
    ['cursor a day ahead (a file written elsewhere)', { cursor: '2026-11-25T12:00:00Z' }, /the cursor 2026-11-25T12:00:00Z is 1440 min ahead of this machine's clock/],
  ]
  for (const [name, fields, said] of cases) {
    await t.test(name, async (t) => {
      const r = await rig(t, 'http/protobuf')
      writeFileSync(join(r.stateDir, 'state.json'), JSON.stringify({ version: 2, exportedKeys: {}, ...fields }))
      const app = await r.startApp()
      t.ok(r.logs.some((l) => said.test(l)), 'the warning says what is ahead')
      r.time.advanceTo(T0 + 10 * MIN)
      await r.time.idle()
      const state = JSON.parse(readFileSync(join(r.stateDir, 'state.json'), 'utf8')) as { cursor: string; apiRequests: number[]; lastEventAt?: string }
      t.ok(Date.parse(state.cursor) <= T0 + 10 * MIN, `the cursor is by the API's clock (${state.cursor})`)
      t.ok(state.apiRequests.every((at) => at <= r.time.clock()), 'no request time ahead any more')
      t.ok(state.lastEventAt === undefined || Date.parse(state.lastEventAt) <= r.time.clock(), 'nor lastEventAt')
      t.equal((await app.ops.inject('/healthz')).statusCode, 200)
    })
  }
  const r = await rig(t, 'http/protobuf')
  writeFileSync(join(r.stateDir, 'state.json'), JSON.stringify({ version: 2, exportedKeys: {}, cursor: '2026-11-24T12:00:00Z', reaskFrom: '2026-11-24T14:00:00Z' }))
  const err = await r.startApp().then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(err instanceof ReceiverError && err.code === 'PSR_ERR_STATE', 'a re-ask point after the cursor is still refused (exit 78): no receiver writes one')
  t.equal(r.sim.requests.length, 0, 'nothing asked')
})

for (const behindMin of [3, 90]) {
  t.test(`a machine clock ${behindMin} min behind the API's: runs, restarts (no crash loop), loses nothing, asks nothing in the API's future`, async (t) => {
    const r = await rig(t, 'http/protobuf', { RECEIVER_OVERLAP: '30m' }, 1)
    r.time.shiftWall(-behindMin * MIN)
    const app = await r.startApp()
    r.time.advanceTo(T0 + 20 * MIN)
    await r.time.idle()
    await app.shutdown()
    await r.startApp()
    t.ok(r.logs.some((l) => /the cursor .* is \d+ min ahead of this machine's clock/.test(l)), 'the restart says the clock is behind')
    // It started RECEIVER_START_LOOKBACK before its own (late) clock.
    await keepsUp(t, r, intervalOf(r.sim.requests[0]!)[0], T0 + 2 * H)
    t.equal(r.sim.requests.filter((q) => q.status === 400).length, 0, 'no window in the API\'s future')
  })
}

t.test('the wall clock jumps +2 h or -2 h while running: polling goes on by the API\'s clock, nothing lost', async (t) => {
  for (const jump of [2 * H, -2 * H]) {
    await t.test(`${jump > 0 ? '+' : '-'}2 h`, async (t) => {
      const r = await rig(t, 'http/protobuf', { RECEIVER_OVERLAP: '30m' }, 1)
      const app = await r.startApp()
      r.time.advanceTo(T0 + 20 * MIN)
      await r.time.idle()
      r.time.shiftWall(jump)
      await keepsUp(t, r, START, T0 + 2 * H)
      t.equal(r.sim.requests.filter((q) => q.status === 400).length, 0, 'no window in the API\'s future')
      t.equal(app.status.snapshot(r.time.clock()).clockSkewSeconds, jump / 1000, '/status shows the skew')
      t.ok(r.logs.some((l) => l.includes('windows are planned by the API')), 'and the log says it')
      t.equal((await app.ops.inject('/healthz')).statusCode, 200)
    })
  }
})

t.test('a backoff that began before the wall clock went back 2 h lasts what it should', async (t) => {
  const r = await rig(t, 'http/protobuf')
  await r.sink.setMode('refuse')
  const app = await r.startApp()
  await r.time.idle()
  t.match(app.status.snapshot(r.time.clock()).wait, { reason: 'backoff', what: 'export' }, 'backing off')
  await r.sink.setMode('ok')
  r.time.shiftWall(-2 * H)
  r.time.advanceTo(T0 + 10_000)
  await r.time.idle()
  t.ok(r.sink.records.length > 0, 'retried after its few seconds, not 2 h later')
})

for (const futureEnd of ['reject', 'clamp'] as const) {
  t.test(`started with the clock 2 h ahead (API ${futureEnd === 'reject' ? 'answers 400' : 'answers what it has'} for a window in its future), overlap 0: nothing lost`, async (t) => {
    const r = await rig(t, 'http/protobuf', { RECEIVER_OVERLAP: '0s' }, 3, { futureEnd })
    r.time.shiftWall(2 * H)
    await r.startApp()
    r.time.advanceTo(T0 + 2 * H)
    await r.time.idle(60_000)
    const cursor = cursorOf(r)
    t.ok(cursor >= T0 + 2 * H - 3 * MIN && cursor <= T0 + 2 * H, `the cursor follows the API's clock (${new Date(cursor).toISOString()})`)
    t.ok(r.logs.some((l) => l.includes('start cursor was set by a clock ahead')), 'says it started by the API\'s clock')
    assertExactlyOnce(t, r.sink, expectedUids(r.sim, START, cursor), await r.cutOff())
  })
}

t.test('SIGTERM mid-window: what the collector acknowledged is not sent again after the restart', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_EXPORT_CONCURRENCY: '1' }, 10)
  let hanging = false
  r.sink.onRequest(({ index }) => {
    // The third request of the 600-event window never gets an answer: a rollout stops the receiver there. With one
    // request in flight, it is sent only once the receiver has read the answers to the first two.
    if (index === 2) {
      hanging = true
      void r.sink.setMode('hang')
    }
  })
  const app1 = await r.startApp()
  await until(() => hanging)
  await app1.shutdown()
  t.equal(r.sink.records.length, 256, 'two requests acknowledged')
  t.ok(r.logs.some((l) => l.includes('the records the collector acknowledged are saved')))
  // Counted by the process that exported them: the next one skips them as already exported (duplicates).
  const m1 = await app1.metrics.render()
  t.equal(counted(m1, 'exported'), 256, 'the stopped process counts what the collector acknowledged as exported')
  t.equal(counted(m1, 'received'), 256, '... and as received')
  r.sink.onRequest(undefined)
  await r.sink.setMode('ok')
  const app2 = await r.startApp()
  await r.time.idle()
  t.equal(readState(r.stateDir).cursor, '2026-11-24T12:00:00.000Z')
  assertExactlyOnce(t, r.sink, expectedUids(r.sim, START, cursorOf(r)), await r.cutOff())
  const m2 = await app2.metrics.render()
  t.equal(counted(m1, 'exported') + counted(m2, 'exported'), r.sink.records.length, 'the two processes together counted every record the sink took')
  t.equal(counted(m2, 'duplicates'), 256, 'the restart skipped the acknowledged ones as already exported')
})

t.test('a failed state write before a request is reported as a state failure, not a fetch failure', async (t) => {
  const r = await rig(t, 'http/protobuf')
  let fail = 1
  const store = new FileStateStore(r.stateDir)
  const save = store.save.bind(store)
  store.save = async (s) => {
    if (fail-- > 0) throw new StateError('cannot write the state file (ENOSPC)')
    return save(s)
  }
  await r.startApp({ store })
  await r.time.idle()
  t.ok(r.logs.some((l) => l.includes('"what":"state"') && l.includes('state failed; retrying')), 'named as the state write')
  t.notOk(r.logs.some((l) => l.includes('fetch failed')))
})

t.test('the wall clock steps back 12 h with the request budget in use: polling goes on at the budget pace, the API never asked for more, a restart accepts the state', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_POLL_INTERVAL: '10m', PROOFPOINT_REQUEST_BUDGET: '160' }, 1)
  await r.startApp()
  for (let m = 10; m <= 24 * 60; m += 10) {
    r.time.advanceTo(T0 + m * MIN)
    await r.time.idle()
  }
  r.time.shiftWall(-12 * H)
  const stepped = r.time.monotonic()
  const before = r.sim.requests.length
  for (let m = 10; m <= 6 * 60; m += 10) {
    r.time.advanceTo(stepped + m * MIN)
    await r.time.idle()
  }
  // Counted on the wall clock, the day's requests stayed "in the future" for 12 h more: 16 requests in these 6 h.
  const since = r.sim.requests.length - before
  t.ok(since >= 30, `${since} requests in the 6 h after the step (the budget allows ~40)`)
  const trueNow = r.time.monotonic()
  const lastDay = r.sim.requests.filter((q) => q.at > trueNow - 24 * H).length
  t.ok(lastDay <= 160, `${lastDay} requests in the API's last 24 h, within PROOFPOINT_REQUEST_BUDGET`)
  const saved = ((readState(r.stateDir) as { apiRequests?: Array<string | number> }).apiRequests ?? []).map((at) => (typeof at === 'string' ? Date.parse(at) : at))
  t.ok(saved.length > 0 && saved.every((at) => at <= r.time.clock()), 'the saved request times are on the stepped wall clock: none ahead of it, so a restart loads them')
})

/**
 * This machine's clock against the SIEM API's (found by a review of time handling): a wall clock a second or two ahead,
 * a `queryEndTime` written with an offset, a late-event sweep planned by a clock ahead after a restart.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { JsonObject } from '../../src/siem/types.js'
import type { ReceiverState } from '../../src/state/index.js'
import { H, MIN, T0, assertExactlyOnce, expectedUids, readState, rig } from '../helpers/e2e-rig.js'
import type { Rig } from '../helpers/e2e-rig.js'

for (const skewMs of [0, 1500, -1500]) {
  t.test(`wall clock ${skewMs} ms off the API's (within CLOCK_AGREEMENT_MS), 30 s polls: no window in the API's future`, async (t) => {
    const r = await rig(t, 'http/protobuf', { RECEIVER_OVERLAP: '30m', RECEIVER_POLL_INTERVAL: '30s' }, 1)
    r.time.shiftWall(skewMs)
    await r.startApp()
    for (let m = 1; m <= 20; m++) {
      r.time.advanceTo(T0 + m * MIN)
      await r.time.idle()
    }
    const bad = r.sim.requests.filter((q) => q.status === 400)
    t.comment(`${r.sim.requests.length} requests, ${bad.length} answered 400: ${bad.slice(0, 3).map((q) => `${q.query.interval} at ${new Date(q.at).toISOString()}`).join('  ')}`)
    t.equal(bad.length, 0, 'no window in the API\'s future')
  })
}

const START = Date.parse('2026-11-24T11:01:00Z')
for (const qet of ['2026-11-24T11:30:00Z', '2026-11-24T11:30:00+00:00', '2026-11-24T06:30:00-05:00', '2026-11-24T11:30Z', '2026-11-24T11:30:00.000']) {
  t.test(`queryEndTime "${qet}" before the requested end (overlap 0): the cursor stops there, nothing lost`, async (t) => {
    const r = await rig(t, 'http/protobuf', { RECEIVER_OVERLAP: '0s' })
    const through = Date.parse('2026-11-24T11:30:00Z')
    r.sim.onRequest((q) => {
      r.sim.onRequest(undefined)
      const [s] = (q.query.interval ?? '').split('/')
      const body = { queryEndTime: qet, ...r.sim.eventsIn({ start: new Date(s!), end: new Date(through) }) }
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
    })
    await r.startApp()
    r.time.advanceTo(T0 + 3 * MIN)
    await r.time.idle()
    t.equal(r.sim.requests[1]?.query.interval?.split('/')[0], '2026-11-24T11:30:00Z', 'the rest is asked again')
    t.ok(r.logs.some((l) => l.includes('answered the window only in part')), 'and said')
    assertExactlyOnce(t, r.sink, expectedUids(r.sim, START, Date.parse(readState(r.stateDir).cursor)), await r.cutOff())
  })
}

t.test('an unreadable queryEndTime fails the window as a bad answer; the cursor does not move over it', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_OVERLAP: '0s' })
  let bad = 3
  r.sim.onRequest(() => (bad-- > 0 ? { status: 200, headers: { 'content-type': 'application/json' }, body: '{"queryEndTime":"soon","messagesDelivered":[]}' } : undefined))
  await r.startApp()
  r.time.advanceTo(T0 + 10 * MIN)
  await r.time.idle()
  t.ok(r.logs.some((l) => l.includes('its queryEndTime \\"soon\\" is not a time this receiver can read')), 'logged, quoted')
  assertExactlyOnce(t, r.sink, expectedUids(r.sim, START, Date.parse(readState(r.stateDir).cursor)), await r.cutOff())
  t.ok(Date.parse(readState(r.stateDir).cursor) >= T0 + 5 * MIN, 'and goes on once the answers are readable')
})

interface Late { id: string; createdAt: number; lateMin: number }
function lateMessage(r: Rig, late: Late): JsonObject {
  const base = r.sim.eventsIn({ start: new Date(T0 - H), end: new Date(T0) }).messagesDelivered[0] ?? {}
  const to = `${late.id}@corp.example`
  return { ...base, id: late.id, recipient: [to], toAddresses: [to], messageTime: new Date(late.createdAt).toISOString() }
}
async function runTo(r: Rig, until: number, pending: Late[]): Promise<void> {
  for (let now = r.time.monotonic(); now < until; ) {
    now = Math.min(until, Math.floor(now / MIN) * MIN + MIN + 30_000)
    r.time.advanceTo(now)
    for (const late of pending.filter((l) => l.createdAt + l.lateMin * MIN <= now)) {
      r.sim.inject('messagesDelivered', lateMessage(r, late), late.createdAt)
      pending.splice(pending.indexOf(late), 1)
    }
    await r.time.idle()
  }
}
const stateOf = (r: Rig): ReceiverState => JSON.parse(readFileSync(join(r.stateDir, 'state.json'), 'utf8')) as ReceiverState
const ids = (r: Rig): string[] => r.sink.records.map((x) => String(x.attributes['proofpoint.id'])).filter((id) => id.startsWith('late-')).sort()

for (const aheadMin of [0, 40]) {
  t.test(`restart on a machine whose wall clock is ${aheadMin} min ahead of the API: late events within the overlap`, async (t) => {
    const r = await rig(t, 'http/protobuf', { RECEIVER_OVERLAP: '30m' })
    const app1 = await r.startApp()
    await r.time.idle()
    await runTo(r, T0 + 60 * MIN, [])
    await app1.shutdown()
    const s = stateOf(r)
    const C = Date.parse(s.cursor)
    const pending: Late[] = [
      { id: 'late-a', createdAt: C - 20 * MIN + 5_000, lateMin: 25 },
      { id: 'late-b', createdAt: C - 15 * MIN + 5_000, lateMin: 28 },
    ]
    const before = r.sim.requests.length
    r.time.shiftWall(aheadMin * MIN)
    await r.startApp()
    await r.time.idle()
    await runTo(r, T0 + 3 * H, pending)
    if (aheadMin > 0) t.match(r.sim.requests[before]?.query.interval, /^2026-11-24T12:[0-5]\d:00Z\/2026-11-24T13:00:00Z$/, 'the first request is a sweep planned by the clock ahead')
    t.same(ids(r), ['late-a', 'late-b'], 'each late event exported once')
  })
}

t.test('a wall clock stepped 25 h forward while running: no false no-events alert, no false lag', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_NO_EVENTS_ALERT_AFTER: '24h' }, 3)
  const app = await r.startApp()
  r.time.advanceTo(T0 + 10 * MIN)
  await r.time.idle()
  t.ok(app.status.snapshot(r.time.clock()).noEvents.lastEventAt !== null, 'events were exported')
  r.time.shiftWall(25 * H)
  r.time.advanceTo(T0 + 12 * MIN)
  await r.time.idle()
  const snap = app.status.snapshot(r.time.clock())
  t.equal(snap.noEvents.alerting, false, 'not alerting')
  t.ok(snap.noEvents.silentSeconds < 5 * 60, `silent for ${snap.noEvents.silentSeconds} s, not 25 h`)
  t.ok(snap.lagSeconds !== null && snap.lagSeconds < 5 * 60, `lag ${snap.lagSeconds} s by the API's clock, not 25 h`)
  t.notOk(r.sink.records.some((x) => x.eventName === 'proofpoint.receiver.no_events'), 'no alert record sent')
})

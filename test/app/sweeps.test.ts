/**
 * Late-event sweeps end to end, in simulated time (real HTTP to the simulator, real exporter and sink, real state
 * file): events indexed 5, 20, 29 and exactly 30 minutes (the overlap) late are exported exactly once, across
 * restarts, a budget wait, and a kill between a sweep's export and its commit (duplicates only, nothing lost).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { StateError } from '../../src/errors.js'
import type { JsonObject } from '../../src/siem/types.js'
import { FileStateStore } from '../../src/state/index.js'
import type { ReceiverState, StateStore } from '../../src/state/index.js'
import { H, MIN, T0, assertExactlyOnce, expectedUids, rig, uidOf } from '../helpers/e2e-rig.js'
import type { Rig } from '../helpers/e2e-rig.js'

const OVERLAP = { RECEIVER_OVERLAP: '30m' }

/** Late events: created at `createdAt`, visible in the API only `lateMin` minutes later. */
interface Late {
  id: string
  createdAt: number
  lateMin: number
}

function lateEvents(from: number): Late[] {
  return [5, 20, 29, 30].map((lateMin, i) => ({ id: `late-${lateMin}`, createdAt: from + i * 7 * MIN + 17_000, lateMin }))
}

function lateMessage(r: Rig, late: Late): JsonObject {
  const base = r.sim.eventsIn({ start: new Date(T0 - H), end: new Date(T0) }).messagesDelivered[0] ?? {}
  const to = `${late.id}@corp.example`
  return { ...base, id: late.id, recipient: [to], toAddresses: [to], messageTime: new Date(late.createdAt).toISOString() }
}

/**
 * Moves simulated time a minute at a time to `until`, letting the receiver work at each step and making each late
 * event visible at its moment (the simulator serves an injected event from then on). `down`: the receiver is not
 * running, time jumps.
 */
async function runTo(r: Rig, until: number, pending: Late[], down = false): Promise<void> {
  for (let now = r.time.monotonic(); now < until; ) {
    now = Math.min(until, Math.floor(now / MIN) * MIN + MIN + 30_000)
    if (down) r.time.jumpTo(now)
    else r.time.advanceTo(now)
    for (const late of pending.filter((l) => l.createdAt + l.lateMin * MIN <= now)) {
      r.sim.inject('messagesDelivered', lateMessage(r, late), late.createdAt)
      pending.splice(pending.indexOf(late), 1)
    }
    if (!down) await r.time.idle()
  }
}

const ids = (r: Rig): string[] => r.sink.records.map((x) => String(x.attributes['proofpoint.id'])).filter((id) => id.startsWith('late-')).sort()

function readState(r: Rig): ReceiverState {
  return JSON.parse(readFileSync(join(r.stateDir, 'state.json'), 'utf8')) as ReceiverState
}

/** Every event the API holds from `from` to the cursor (the late ones are all visible by now). */
async function assertAllOnce(t: Test, r: Rig, from: number): Promise<void> {
  assertExactlyOnce(t, r.sink, expectedUids(r.sim, from, Date.parse(readState(r).cursor)), await r.cutOff())
}

t.test('events indexed 5, 20, 29 and 30 minutes late are exported once, by the sweeps; /status and /metrics count them', async (t) => {
  const r = await rig(t, 'http/protobuf', OVERLAP)
  const app = await r.startApp()
  await r.time.idle()
  const pending = lateEvents(T0 + 2 * MIN)
  await runTo(r, T0 + 2 * H, pending)
  t.same(pending, [], 'every late event became visible')
  t.same(ids(r), ['late-20', 'late-29', 'late-30', 'late-5'], 'each late event exactly once')
  await assertAllOnce(t, r, Date.parse('2026-11-24T11:01:00Z'))

  // Fresh polls ask a minute; sweeps 20 minutes (the first window is the start lookback).
  const spans = r.sim.requests.slice(1).map((q) => {
    const [a = '', b = ''] = (q.query.interval ?? '').split('/')
    return (Date.parse(b) - Date.parse(a)) / MIN
  })
  t.ok(spans.every((m) => m === 1 || m === 20), `fresh polls of 1 min, sweeps of 20 min: ${[...new Set(spans)].join(',')}`)
  t.ok(spans.filter((m) => m === 20).length >= 9, 'two stages sweep every 20 minutes')

  const sweeps = app.status.snapshot(r.time.clock()).sweeps
  t.same(sweeps.map((s) => [s.age, s.spanSeconds]), [['10m', 1200], ['35m', 1200]])
  t.equal(sweeps.reduce((n, s) => n + s.lateEvents, 0), 4, 'the four late events, each counted by the sweep that found it')
  t.ok(sweeps[1]!.lateEvents >= 2, 'the 29 and 30 minutes late ones only the last sweep can find')
  t.ok(sweeps.every((s) => s.lastSweep !== null && s.lagSeconds !== null && s.lagSeconds <= s.ageSeconds + s.spanSeconds + 60), 'both keep up')
  const metrics = await app.metrics.render()
  for (const s of sweeps) {
    t.match(metrics, new RegExp(`^proofpoint_receiver_late_events_total\\{sweep_age="${s.age}"\\} ${s.lateEvents}$`, 'm'))
    t.match(metrics, new RegExp(`^proofpoint_receiver_sweep_lag_seconds\\{sweep_age="${s.age}"\\} ${s.lagSeconds}$`, 'm'))
    t.match(metrics, new RegExp(`^proofpoint_receiver_sweep_next_timestamp_seconds\\{sweep_age="${s.age}"\\} ${Date.parse(s.nextAt!) / 1000}$`, 'm'))
  }
  t.ok(r.sink.records.every((x) => x.attributes['log.record.uid'] !== undefined))
})

t.test('a restart between the sweeps: the stage cursors are in the state file and the late events still arrive once', async (t) => {
  const r = await rig(t, 'http/protobuf', OVERLAP)
  const app1 = await r.startApp()
  await r.time.idle()
  const pending = lateEvents(T0 + 2 * MIN)
  await runTo(r, T0 + 25 * MIN, pending)
  await app1.shutdown()
  const saved = readState(r)
  t.same(saved.sweeps?.map((s) => s.ageSeconds), [600, 2100], 'both stages saved')
  t.ok(saved.sweeps!.every((s) => Date.parse(s.through) <= Date.parse(saved.cursor)), 'never past the cursor')
  t.equal(saved.reaskFrom, saved.sweeps![1]!.through, 'reaskFrom: the oldest stage (an older receiver re-asks from there)')
  // Down for 40 minutes: events become visible meanwhile.
  await runTo(r, T0 + 65 * MIN, pending, true)
  await r.startApp()
  await r.time.idle()
  await runTo(r, T0 + 2 * H + 30 * MIN, pending)
  t.same(ids(r), ['late-20', 'late-29', 'late-30', 'late-5'], 'each late event exactly once')
  await assertAllOnce(t, r, Date.parse('2026-11-24T11:01:00Z'))
})

t.test('a state file from before sweeps loads: the sweeps start at its reaskFrom', async (t) => {
  const r = await rig(t, 'http/protobuf', OVERLAP)
  writeFileSync(join(r.stateDir, 'state.json'), JSON.stringify({ version: 2, cursor: '2026-11-24T12:00:00Z', reaskFrom: '2026-11-24T11:30:00Z', exportedKeys: {} }))
  // Created at 11:40, visible only now: the old receiver would have found it in its overlap; the sweeps must too.
  const late: Late = { id: 'late-old-format', createdAt: T0 - 20 * MIN, lateMin: 20 }
  r.sim.inject('messagesDelivered', lateMessage(r, late), late.createdAt)
  await r.startApp()
  await r.time.idle()
  await runTo(r, T0 + H, [])
  t.same(ids(r), ['late-old-format'])
  t.same(readState(r).sweeps?.map((s) => s.ageSeconds), [600, 2100], 'written back with its sweeps')
})

t.test('down 8 days (past what the API serves): the sweeps say they missed only what was read once, not the gap', async (t) => {
  // Few events: the catch-up reads 7 days.
  const r = await rig(t, 'http/protobuf', OVERLAP, 0.5)
  const app1 = await r.startApp()
  await r.time.idle()
  await runTo(r, T0 + 30 * MIN, [])
  await app1.shutdown()
  const saved = readState(r)
  const cursor = Date.parse(saved.cursor)
  const throughs = saved.sweeps!.map((s) => Date.parse(s.through))
  t.ok(throughs.every((x) => x < cursor), 'both stages behind the cursor: spans read once, not yet again')
  r.time.jumpTo(T0 + 8 * 24 * H)
  const before = r.logs.length
  const app2 = await r.startApp()
  await r.time.idle(60_000)
  await runTo(r, T0 + 8 * 24 * H + 30 * MIN, [])
  const logs = r.logs.slice(before).map((l) => JSON.parse(l) as { msg: string; from?: string; to?: string; unreachableSeconds?: number })
  const gap = logs.filter((l) => l.msg.includes('the cursor is older than the SIEM API serves'))
  t.equal(gap.length, 1, 'the gap: one error')
  t.equal(gap[0]?.from, saved.cursor, 'from the cursor')
  const unswept = logs.filter((l) => l.msg.includes('the late-event sweep could not read this span again'))
  t.same(
    unswept.map((l) => [l.from, l.to, l.unreachableSeconds]),
    throughs.map((through) => [new Date(through).toISOString(), saved.cursor, (cursor - through) / 1000]),
    'each stage: from its cursor to the cursor before the gap, which the first reads exported; not the gap, never read',
  )
  const status = app2.status.snapshot(r.time.clock())
  t.same(status.sweeps.map((s) => s.unreachableSeconds), throughs.map((through) => (cursor - through) / 1000), '/status counts the same, the gap once, in gapSeconds')
  t.equal(status.gapSeconds, (Date.parse(gap[0]?.to ?? '') - cursor) / 1000)
  t.ok(status.sweeps.every((s) => s.lagSeconds !== null && s.lagSeconds <= s.ageSeconds + s.spanSeconds + 60), 'the sweeps keep up again')
})

t.test('a budget wait: nothing is asked while it lasts, the sweeps catch up after it, late events arrive once', async (t) => {
  const r = await rig(t, 'http/protobuf', OVERLAP)
  // The budget was used up 23 h 20 min ago: requests may go out again at 12:40.
  const used = Array.from({ length: 1800 }, () => T0 - 24 * H + 40 * MIN)
  writeFileSync(join(r.stateDir, 'state.json'), JSON.stringify({ version: 2, cursor: new Date(T0 - 10 * MIN).toISOString(), exportedKeys: {}, apiRequests: used }))
  const app = await r.startApp()
  await r.time.idle()
  t.equal(app.status.snapshot(r.time.clock()).state, 'budget_wait')
  const pending = lateEvents(T0 - 8 * MIN)
  await runTo(r, T0 + 35 * MIN, pending)
  t.equal(r.sim.requests.length, 0, 'nothing asked during the wait')
  await runTo(r, T0 + 2 * H + 30 * MIN, pending)
  t.same(ids(r), ['late-20', 'late-29', 'late-30', 'late-5'], 'each late event exactly once')
  await assertAllOnce(t, r, T0 - 10 * MIN)
})

t.test("killed between a sweep's export and its commit: the sweep runs again after the restart; duplicates only, nothing lost", async (t) => {
  const r = await rig(t, 'http/protobuf', OVERLAP)
  // The state file as a kill leaves it: once the sweep's late record was acknowledged, no save reaches the disk.
  const file = new FileStateStore(r.stateDir)
  let killed = false
  const store: StateStore = {
    load: () => file.load(),
    save: (state) => (killed ? Promise.reject(new StateError('killed')) : file.save(state)),
  }
  const app1 = await r.startApp({
    store,
    onExported: (records) => {
      if (records.some((x) => x.attributes['proofpoint.id'] === 'late-5')) killed = true
    },
  })
  await r.time.idle()
  const pending = lateEvents(T0 + 2 * MIN).slice(0, 1)
  await runTo(r, T0 + 30 * MIN, pending)
  t.ok(killed, 'the sweep exported the late event, then the process "died"')
  const before = readState(r)
  await app1.shutdown()
  t.same(readState(r), before, 'nothing was saved after the export')

  await r.startApp()
  await r.time.idle()
  await runTo(r, T0 + 2 * H, pending)
  const late = r.sink.records.filter((x) => x.attributes['proofpoint.id'] === 'late-5')
  t.equal(late.length, 2, 'the late event again: a duplicate with the same log.record.uid')
  const expected = expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), Date.parse(readState(r).cursor))
  const got = new Set(r.sink.records.map(uidOf))
  t.same([...expected.keys()].filter((k) => !got.has(k)), [], 'nothing lost')
  const counts = new Map<string, number>()
  for (const uid of r.sink.records.map(uidOf)) counts.set(uid, (counts.get(uid) ?? 0) + 1)
  const twice = [...counts].filter(([, n]) => n > 1).map(([uid]) => uid)
  t.same(twice, [uidOf(late[0]!)], 'the only duplicate is what the killed sweep exported')
})

t.test("a sweep the API answers only in part (its data ends before the span) is asked again a poll interval later, not at once", async (t) => {
  const r = await rig(t, 'http/protobuf', OVERLAP)
  await r.startApp()
  await r.time.idle()
  const pending = lateEvents(T0 + 2 * MIN)
  await runTo(r, T0 + 40 * MIN, pending)
  // For 25 minutes (each stage is due at least once) the API says its data ends where each sweep's span starts.
  const isSweep = (interval: string): boolean => {
    const [a = '', b = ''] = interval.split('/')
    return Date.parse(b) - Date.parse(a) >= 20 * MIN
  }
  let short = 0
  r.sim.onRequest((q) => {
    const interval = q.query.interval ?? ''
    if (!isSweep(interval)) return undefined
    short++
    const body = { queryEndTime: interval.split('/')[0], messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
  })
  await runTo(r, T0 + 65 * MIN, pending)
  t.ok(short >= 1 && short <= 26, `at most one sweep a poll interval while the API's data ends early (${short})`)
  r.sim.onRequest(undefined)
  await runTo(r, T0 + 2 * H + 30 * MIN, pending)
  t.same(ids(r), ['late-20', 'late-29', 'late-30', 'late-5'], 'then each late event exactly once')
  await assertAllOnce(t, r, Date.parse('2026-11-24T11:01:00Z'))
})

for (const downH of [6, 24]) {
  t.test(`down ${downH} h in steady state: the catch-up reads each hour once (the sweeps come level first), no false no-events alert`, async (t) => {
    const r = await rig(t, 'http/protobuf', OVERLAP, 3)
    const app1 = await r.startApp()
    for (let m = 1; m <= 60; m++) {
      r.time.advanceTo(T0 + m * MIN)
      await r.time.idle()
    }
    await app1.shutdown()
    r.time.jumpTo(T0 + (1 + downH) * H)
    const before = r.sim.requests.length
    await r.startApp()
    await r.time.idle(120_000)
    const asked = r.sim.requests.slice(before)
    // One request per hour of backlog, the two sweeps' short reads up to the cursor, and a last fresh window.
    t.ok(asked.length <= downH + 3, `${asked.length} requests for ${downH} h (each catch-up hour was asked twice before)`)
    t.same(r.sink.records.filter((x) => x.eventName.startsWith('proofpoint.receiver')), [], 'no no-events alert: the backlog had events')
    assertExactlyOnce(t, r.sink, expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), Date.parse(readState(r).cursor)), await r.cutOff())
  })
}

t.test('malformed events are counted and logged once each, when first exported: not again by the sweeps, nor by retries of their window', async (t) => {
  const r = await rig(t, 'http/protobuf', OVERLAP)
  const N = 12
  for (let i = 0; i < N; i++) {
    const at = T0 + 10_000 + i * 90_000
    // A field of an unexpected type (the API's schema drifting): exported as received, counted malformed.
    r.sim.inject('messagesDelivered', { ...lateMessage(r, { id: `bad-${i}`, createdAt: at, lateMin: 0 }), spamScore: '12' }, at)
  }
  const app = await r.startApp()
  await r.time.idle()
  // The collector refuses the next window's first three attempts (an endpoint answering 404): it is read four times.
  r.sink.failNext(3, 404)
  await runTo(r, T0 + H, [])
  const bad = (records: typeof r.sink.records): string[] => records.map((x) => String(x.attributes['proofpoint.id'])).filter((id) => id.startsWith('bad-'))
  t.same(bad(r.sink.rejected), ['bad-0', 'bad-0', 'bad-0'], 'the first one was read and sent by each failed attempt')
  t.equal(new Set(bad(r.sink.records)).size, N, 'each arrived')
  await assertAllOnce(t, r, Date.parse('2026-11-24T11:01:00Z'))

  const totals = app.status.snapshot(r.time.clock()).totals
  t.ok(totals.duplicates >= 2 * N, `the sweeps read them again (${totals.duplicates} duplicates)`)
  t.equal(totals.malformed, N, '/status totals.malformed: each once')
  t.equal(totals.byType.messagesDelivered?.malformed, N)
  t.match(await app.metrics.render(), new RegExp(`^proofpoint_receiver_events_malformed_total\\{event_type="messagesDelivered"\\} ${N}$`, 'm'))
  const lines = r.logs.map((l) => JSON.parse(l) as { msg: string; malformed?: number }).filter((l) => l.msg.startsWith('malformed event'))
  t.ok(lines.length > 0 && lines.length <= N, `${lines.length} warnings, none per read`)
  t.equal(lines.reduce((n, l) => n + (l.malformed ?? 1), 0), N, 'which name each once')
})

import t from 'tap'
import fc from 'fast-check'
import { afterFreshWindow, loadThroughs, planSweep, sweepAges, sweepRequestsPerDay } from '../../src/siem/sweeps.js'
import type { SweepPlan } from '../../src/siem/sweeps.js'
import { API_LIMITS, planNextWindow } from '../../src/siem/windows.js'

const MIN = 60_000
const H = 60 * MIN
const D = 24 * H
const at = (iso: string): number => Date.parse(iso)
const iso = (ms: number): string => new Date(ms).toISOString().slice(11, 16)
const PLAN: SweepPlan = { agesMs: [10 * MIN, 35 * MIN], spanMs: 20 * MIN }

t.test('stages: none without an overlap, the last at overlap + 5 min, an early one at 10 min when the last is 20 min or older', async (t) => {
  t.same(sweepAges(0), [])
  t.same(sweepAges(30 * MIN), [10 * MIN, 35 * MIN])
  t.same(sweepAges(10 * MIN), [15 * MIN])
  t.same(sweepAges(15 * MIN), [10 * MIN, 20 * MIN])
  t.equal(sweepRequestsPerDay(PLAN), 144, 'the defaults: 72 + 72 requests a day')
})

t.test('steady state: each stage reads 20 minutes once its end is old enough, never past the cursor', async (t) => {
  const now = at('2026-11-24T12:30:10Z')
  const cursor = at('2026-11-24T12:30:00Z')
  // The 10-minute stage has read through 12:00: [12:00, 12:20] is ripe at 12:30.
  const due = planSweep([at('2026-11-24T12:00:00Z'), at('2026-11-24T11:40:00Z')], cursor, now, PLAN, API_LIMITS)
  t.same(due.kind === 'sweep' && [due.stage, iso(due.window.start.getTime()), iso(due.window.end.getTime())], [0, '12:00', '12:20'])
  // Both kept up: the next is the 35-minute stage's [11:40, 12:00] at 12:35.
  const none = planSweep([at('2026-11-24T12:20:00Z'), at('2026-11-24T11:40:00Z')], cursor, now, PLAN, API_LIMITS)
  t.same(none, { kind: 'none', dueInMs: 5 * MIN - 10_000 })
  const later = planSweep([at('2026-11-24T12:20:00Z'), at('2026-11-24T11:40:00Z')], cursor, at('2026-11-24T12:35:00Z'), PLAN, API_LIMITS)
  t.same(later.kind === 'sweep' && [later.stage, iso(later.window.start.getTime()), iso(later.window.end.getTime())], [1, '11:40', '12:00'])
  // The cursor held back (an export outage): no sweep past it, and no wake-up for one.
  const held = planSweep([at('2026-11-24T12:10:00Z')], at('2026-11-24T12:10:00Z'), at('2026-11-24T13:30:00Z'), { agesMs: [10 * MIN], spanMs: 20 * MIN }, API_LIMITS)
  t.same(held, { kind: 'none', dueInMs: undefined })
  // Everything up to the cursor is ripe (a restart after downtime): a stage behind it comes level with it, even by
  // less than a span, so that fresh windows carry it along instead of it reading every catch-up hour again.
  const level = planSweep([at('2026-11-24T12:00:00Z')], at('2026-11-24T12:10:00Z'), at('2026-11-24T13:30:00Z'), { agesMs: [10 * MIN], spanMs: 20 * MIN }, API_LIMITS)
  t.same(level.kind === 'sweep' && [iso(level.window.start.getTime()), iso(level.window.end.getTime())], ['12:00', '12:10'])
})

t.test('behind (a restart, a budget wait): a stage catches up in windows of up to 1 h, within the 7-day limit', async (t) => {
  const now = at('2026-11-24T18:00:30Z')
  const plan = planSweep([at('2026-11-24T12:00:00Z'), at('2026-11-24T12:00:00Z')], at('2026-11-24T18:00:00Z'), now, PLAN, API_LIMITS)
  t.same(plan.kind === 'sweep' && [plan.stage, iso(plan.window.start.getTime()), iso(plan.window.end.getTime())], [0, '12:00', '13:00'])
  const ancient = planSweep([now - 8 * D], now - MIN, now, { agesMs: [35 * MIN], spanMs: 20 * MIN }, API_LIMITS)
  t.ok(ancient.kind === 'sweep' && now - ancient.window.start.getTime() <= API_LIMITS.maxAgeMs, 'never older than the API serves')
  // What it skips is said, so the poller can show it (the stage's cursor to the limit, whole minutes).
  t.equal(ancient.kind === 'sweep' && ancient.unreachableMs, ancient.kind === 'sweep' ? ancient.window.start.getTime() - Math.floor((now - 8 * D) / MIN) * MIN : -1)
  t.ok(ancient.kind === 'sweep' && ancient.unreachableMs > D - H, 'about a day the API no longer serves')
  t.equal(plan.kind === 'sweep' && plan.unreachableMs, 0, 'within the limit: nothing skipped')
  // A smaller longest window (after a 400, or a big tenant): sweeps read no more than it.
  const small = planSweep([at('2026-11-24T12:00:00Z')], at('2026-11-24T18:00:00Z'), now, { agesMs: [10 * MIN], spanMs: 20 * MIN }, { ...API_LIMITS, maxWindowMs: 5 * MIN })
  t.same(small.kind === 'sweep' && [iso(small.window.start.getTime()), iso(small.window.end.getTime())], ['12:00', '12:05'])
})

t.test('a fresh window moves a stage level with its start over what was already old when it was asked', async (t) => {
  const window = { start: new Date(at('2026-11-24T12:00:00Z')), end: new Date(at('2026-11-24T13:00:00Z')) }
  const asked = at('2026-11-24T13:20:30Z')
  const throughs = afterFreshWindow([at('2026-11-24T12:00:00Z'), at('2026-11-24T12:00:00Z'), at('2026-11-24T11:00:00Z')], window, window.end.getTime(), asked, [10 * MIN, 35 * MIN, 10 * MIN], API_LIMITS)
  t.same(throughs.map(iso), ['13:00', '12:45', '11:00'], 'all of it; up to 35 min before the query; a stage behind keeps its span to sweep')
  const short = afterFreshWindow([at('2026-11-24T12:00:00Z')], window, at('2026-11-24T12:30:00Z'), asked, [10 * MIN], API_LIMITS)
  t.same(short.map(iso), ['12:30'], 'never past what the API answered')
  const young = afterFreshWindow([at('2026-11-24T12:00:00Z')], window, window.end.getTime(), at('2026-11-24T13:00:30Z'), [10 * MIN], API_LIMITS)
  t.same(young.map(iso), ['12:50'])
})

t.test('loading: same ages keep their cursors; new stages start where re-asking was still due', async (t) => {
  const cursor = at('2026-11-24T12:00:00Z')
  t.same(loadThroughs([10 * MIN, 35 * MIN], [], cursor, undefined).map(iso), ['12:00', '12:00'], 'a new state: the cursor')
  t.same(loadThroughs([10 * MIN, 35 * MIN], [], cursor, at('2026-11-24T11:30:00Z')).map(iso), ['11:30', '11:30'], 'a file from before sweeps: its reaskFrom')
  const saved = [
    { ageMs: 10 * MIN, throughMs: at('2026-11-24T11:50:00Z') },
    { ageMs: 35 * MIN, throughMs: at('2026-11-24T11:20:00Z') },
  ]
  t.same(loadThroughs([10 * MIN, 35 * MIN], saved, cursor, at('2026-11-24T11:20:00Z')).map(iso), ['11:50', '11:20'])
  t.same(loadThroughs([10 * MIN, 25 * MIN], saved, cursor, at('2026-11-24T11:20:00Z')).map(iso), ['11:50', '11:20'], 'a changed overlap: the new stage from the oldest')
  t.same(loadThroughs([10 * MIN], [{ ageMs: 10 * MIN, throughMs: cursor + H }], cursor, undefined).map(iso), ['12:00'], 'never past the cursor')
})

/**
 * The guarantee, over random traffic timings: polls and sweeps as the poller runs them (a sweep when one is due, else
 * a fresh window, else wait), with restarts that lose nothing durable. Every instant t is read by some request asked
 * at or after t + overlap (so an event visible up to the overlap late is read), and the requests stay few.
 */
t.test('property: every instant is read once it is overlap old; about 1,584 requests a day', async (t) => {
  const overlap = 30 * MIN
  const plan: SweepPlan = { agesMs: sweepAges(overlap), spanMs: 20 * MIN }
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 59 }), fc.array(fc.integer({ min: 0, max: 3 * H }), { maxLength: 3 }), (offsetS, outages) => {
      const start = at('2026-11-24T00:00:00Z')
      let now = start + offsetS * 1000
      let cursor = start
      let throughs = plan.agesMs.map(() => cursor)
      const reads: Array<{ start: number; end: number; at: number }> = []
      const stops = outages.map((o, i) => ({ at: start + (i + 1) * 6 * H, for: o }))
      const end = start + D
      while (now < end) {
        const stop = stops.find((s) => s.at <= now)
        if (stop) {
          now += stop.for
          stops.splice(stops.indexOf(stop), 1)
        }
        const sweep = planSweep(throughs, cursor, now, plan, API_LIMITS)
        if (sweep.kind === 'sweep') {
          reads.push({ start: sweep.window.start.getTime(), end: sweep.window.end.getTime(), at: now })
          throughs = throughs.map((x, i) => (i === sweep.stage ? sweep.window.end.getTime() : x))
          continue
        }
        const fresh = planNextWindow(cursor, now, API_LIMITS)
        if (fresh.kind === 'window') {
          reads.push({ start: fresh.window.start.getTime(), end: fresh.window.end.getTime(), at: now })
          throughs = afterFreshWindow(throughs, fresh.window, fresh.window.end.getTime(), now, plan.agesMs, API_LIMITS)
          cursor = fresh.window.end.getTime()
          if (fresh.catchingUp) continue
          now += MIN
          continue
        }
        now += Math.min(fresh.waitMs, sweep.dueInMs ?? Infinity)
      }
      // Every minute that the last stage has passed was read at least overlap after it ended.
      const settled = throughs[throughs.length - 1]!
      for (let m = start; m < settled; m += MIN) {
        const late = reads.some((r) => r.start <= m && r.end >= m + MIN && r.at >= m + MIN + overlap)
        if (!late) throw new Error(`minute ${new Date(m).toISOString()} never read overlap late`)
      }
      if (outages.length === 0 && reads.length > 1440 + 144 + 2) throw new Error(`${reads.length} requests in a day`)
      return settled >= end - 2 * H
    }),
    { numRuns: 40 },
  )
  t.pass('40 random days')
})

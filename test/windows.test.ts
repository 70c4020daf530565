import t from 'tap'
import { API_LIMITS, adaptWindowMs, initialCursor, nextReaskFrom, planNextWindow, repairedLimits } from '../src/siem/windows.js'

const MIN = 60_000
const H = 60 * MIN
const D = 24 * H
const at = (iso: string): number => Date.parse(iso)
const iso = (d: Date): string => d.toISOString()

t.test('first start: lookback before now, on a minute boundary', async (t) => {
  const now = at('2026-11-24T12:34:56.789Z')
  t.equal(iso(initialCursor(now, H)), '2026-11-24T11:35:00.000Z')
  t.equal(iso(initialCursor(now, 7 * D)), iso(new Date(Math.ceil((now - API_LIMITS.maxAgeMs) / MIN) * MIN)), 'capped at the 7 d limit')
  t.ok(now - initialCursor(now, 7 * D).getTime() < 7 * D, 'start is inside the API age limit')
})

t.test('resume: from the cursor up to the last whole minute', async (t) => {
  const plan = planNextWindow(at('2026-11-24T12:00:00Z'), at('2026-11-24T12:05:30Z'))
  t.same(plan.kind === 'window' && [iso(plan.window.start), iso(plan.window.end), plan.catchingUp, plan.gapMs], [
    '2026-11-24T12:00:00.000Z',
    '2026-11-24T12:05:00.000Z',
    false,
    0,
  ])
})

t.test('the minimum window: wait until 30 s (rounded to the next minute) have passed', async (t) => {
  const cursor = at('2026-11-24T12:00:00Z')
  const plan = planNextWindow(cursor, at('2026-11-24T12:00:40Z'))
  t.same(plan, { kind: 'wait', waitMs: 20_000 }, 'waits for 12:01:00')
  const unaligned = planNextWindow(at('2026-11-24T12:00:45Z'), at('2026-11-24T12:01:10Z'))
  t.same(unaligned, { kind: 'wait', waitMs: 50_000 }, 'a 15 s window is never asked for: next is 12:00:45 → 12:02:00')
  const ok = planNextWindow(at('2026-11-24T12:00:45Z'), at('2026-11-24T12:02:00Z'))
  t.ok(ok.kind === 'window' && ok.window.end.getTime() - ok.window.start.getTime() >= 30_000)
})

t.test('catch-up over several hours walks 1 h windows, oldest first, contiguous', async (t) => {
  const now = at('2026-11-24T17:20:10Z')
  let cursor = at('2026-11-24T12:00:00Z')
  const windows: string[] = []
  for (;;) {
    const plan = planNextWindow(cursor, now)
    if (plan.kind === 'wait') break
    t.equal(plan.window.start.getTime(), cursor, 'each window starts where the last ended')
    t.ok(plan.window.end.getTime() - plan.window.start.getTime() <= H, 'never longer than 1 h')
    windows.push(`${iso(plan.window.start).slice(11, 16)}-${iso(plan.window.end).slice(11, 16)}${plan.catchingUp ? '+' : ''}`)
    cursor = plan.window.end.getTime()
  }
  t.same(windows, ['12:00-13:00+', '13:00-14:00+', '14:00-15:00+', '15:00-16:00+', '16:00-17:00+', '17:00-17:20'])
})

t.test('a cursor older than the 7 d limit moves forward and reports the gap', async (t) => {
  const now = at('2026-11-24T12:00:00Z')
  const cursor = now - 10 * D
  const plan = planNextWindow(cursor, now)
  t.equal(plan.kind, 'window')
  if (plan.kind !== 'window') return
  t.ok(now - plan.window.start.getTime() < 7 * D, 'start within the API age limit')
  t.equal(plan.gapMs, plan.window.start.getTime() - cursor, 'the gap is exactly the skipped span')
  t.ok(plan.gapMs > 3 * D - 10 * MIN && plan.gapMs < 3 * D + 10 * MIN)
  t.equal(plan.window.start.getTime() % MIN, 0, 'still minute-aligned')
  t.equal(plan.window.end.getTime() - plan.window.start.getTime(), H)
})

t.test('overlap: a caught-up poll asks again from the re-ask point, and only when there is something new', async (t) => {
  const cursor = at('2026-11-24T12:00:00Z')
  const reask = at('2026-11-24T11:30:00Z')
  const plan = planNextWindow(cursor, at('2026-11-24T12:01:05Z'), API_LIMITS, reask)
  t.same(plan.kind === 'window' && [iso(plan.window.start), iso(plan.window.end)], ['2026-11-24T11:30:00.000Z', '2026-11-24T12:01:00.000Z'])
  t.same(planNextWindow(cursor, at('2026-11-24T12:00:50Z'), API_LIMITS, reask), { kind: 'wait', waitMs: 10_000 }, 'nothing after the cursor yet: wait')
  const long = planNextWindow(cursor, at('2026-11-24T13:20:00Z'), API_LIMITS, reask)
  t.ok(long.kind === 'window' && long.window.end.getTime() - long.window.start.getTime() === H, 'the whole request stays within 1 h')
})

t.test('the re-ask point: settled up to the query time minus the overlap, within the window', async (t) => {
  const w = { start: new Date('2026-11-24T11:30:00Z'), end: new Date('2026-11-24T12:01:00Z') }
  t.equal(iso(new Date(nextReaskFrom(w, at('2026-11-24T12:01:05Z'), 30 * MIN))), '2026-11-24T11:31:00.000Z', 'caught up: 30 min behind')
  t.equal(nextReaskFrom(w, at('2026-11-24T20:00:00Z'), 30 * MIN), w.end.getTime(), 'asked long after: the whole window is settled')
  t.equal(nextReaskFrom(w, at('2026-11-24T11:50:00Z'), 30 * MIN), w.start.getTime(), 'never before the window start')
  t.equal(nextReaskFrom(w, at('2026-11-24T12:01:05Z'), 0), w.end.getTime(), 'no overlap: from the cursor')
})

t.test('after a 400 the window shrinks and keeps further from the 7-day limit', async (t) => {
  t.equal(repairedLimits(API_LIMITS, 0), API_LIMITS)
  t.equal(repairedLimits(API_LIMITS, 1).maxWindowMs, 30 * MIN)
  t.equal(repairedLimits(API_LIMITS, 3).maxWindowMs, 7 * MIN, 'whole minutes')
  t.equal(repairedLimits(API_LIMITS, 20).maxWindowMs, MIN, 'never below one minute (the API minimum is 30 s)')
  t.ok(repairedLimits(API_LIMITS, 2).maxAgeMs < API_LIMITS.maxAgeMs)
})

t.test('a re-ask point older than 7 days is no gap; a cursor older is', async (t) => {
  const now = at('2026-11-24T12:00:00Z')
  const plan = planNextWindow(now - 7 * D + 20 * MIN, now, API_LIMITS, now - 7 * D - 20 * MIN)
  t.equal(plan.kind === 'window' && plan.gapMs, 0)
})

t.test('adaptive windows: shrink after a very big window, grow back when traffic drops, stay within the API limits', async (t) => {
  const targets = { maxEvents: 100_000, maxBytes: 100 * 1024 * 1024 }
  const MB = 1024 * 1024
  t.equal(adaptWindowMs(H, { spanMs: H, events: 300_000, bytes: 50 * MB }, targets), 20 * MIN, '3x the events: a third of the window')
  t.equal(adaptWindowMs(H, { spanMs: H, events: 10_000, bytes: 400 * MB }, targets), 15 * MIN, 'bytes count too')
  t.equal(adaptWindowMs(H, { spanMs: H, events: 100_000_000, bytes: 0 }, targets), MIN, 'never below a minute (API minimum 30 s)')
  t.equal(adaptWindowMs(20 * MIN, { spanMs: 20 * MIN, events: 60_000, bytes: 60 * MB }, targets), 20 * MIN, 'between a quarter and the target: kept')
  t.equal(adaptWindowMs(20 * MIN, { spanMs: 20 * MIN, events: 1_000, bytes: MB }, targets), 40 * MIN, 'quiet: doubles')
  t.equal(adaptWindowMs(40 * MIN, { spanMs: 40 * MIN, events: 1_000, bytes: MB }, targets), H, 'never above the API maximum of 1 h')
  t.equal(adaptWindowMs(H, { spanMs: 5 * MIN, events: 150_000, bytes: 0 }, targets), 3 * MIN, 'proportional to the span that was too big')
  let max = H
  const sizes: number[] = []
  for (const events of [400_000, 400_000, 100_000, 20_000, 5_000, 5_000, 5_000]) {
    max = adaptWindowMs(max, { spanMs: max, events: (events * max) / H, bytes: 0 }, targets)
    sizes.push(max / MIN)
  }
  t.same(sizes, [15, 15, 15, 30, 60, 60, 60], 'a burst of traffic, then quiet')
})

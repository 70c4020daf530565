/**
 * Late-event sweeps, pure. Fresh polls ask only for new time ([cursor, now]); events the API indexes late are
 * picked up by sweeps that read each past span again at fixed ages. Each sweep stage has its own cursor (`through`):
 * every instant before it has been read at least `age` after it happened. The last stage's age is the overlap plus
 * a margin, so an event visible up to RECEIVER_OVERLAP after its creation is read at least once after it appeared.
 */
import type { TimeWindow } from './types.js'
import type { WindowLimits } from './windows.js'

/** The last sweep reads a span this long after the overlap has passed: our estimate of the API's clock and its minute rounding. */
export const SWEEP_MARGIN_MS = 5 * 60_000
/** The early sweep: most late events show within minutes, so they need not wait for the last one. */
export const EARLY_SWEEP_AGE_MS = 10 * 60_000
/** A sweep reads this much at once in steady state (more when behind, up to the API's 1 h): 72 requests a day per stage. */
export const SWEEP_SPAN_MS = 20 * 60_000

export interface SweepPlan {
  /** Ages of the stages, youngest first (ms). */
  agesMs: readonly number[]
  /** The span a stage reads at once when it keeps up. */
  spanMs: number
}

/**
 * The stages for an overlap: none without one; the last at overlap + margin, and an early one at 10 minutes when the
 * last is at least twice as old (else the early one would find little the last does not find soon after).
 */
export function sweepAges(overlapMs: number): number[] {
  if (overlapMs <= 0) return []
  const last = overlapMs + SWEEP_MARGIN_MS
  return last >= 2 * EARLY_SWEEP_AGE_MS ? [EARLY_SWEEP_AGE_MS, last] : [last]
}

const floorTo = (ms: number, step: number): number => Math.floor(ms / step) * step

export type SweepStep =
  /** `unreachableMs`: how much before the window the stage should have read from, but the API no longer serves. */
  | { kind: 'sweep'; stage: number; window: TimeWindow; unreachableMs: number }
  | { kind: 'none'; dueInMs: number | undefined }

/**
 * The sweep to run now, if any: the first stage whose next span is ripe (its end at least `age` old by `nowMs`, the
 * API's clock) and already behind the cursor (fresh polls read it first). A stage that keeps up reads `spanMs` at a
 * time; one that fell behind (a restart, a budget wait, an outage) reads up to the longest window allowed, so it catches
 * up. Otherwise how long until one is due (undefined: only when the cursor moves).
 */
export function planSweep(throughs: readonly number[], cursorMs: number, nowMs: number, plan: SweepPlan, limits: WindowLimits): SweepStep {
  const g = limits.granularityMs
  const oldest = Math.ceil((nowMs - limits.maxAgeMs) / g) * g
  const span = Math.max(Math.min(plan.spanMs, limits.maxWindowMs), limits.minWindowMs)
  let dueInMs: number | undefined
  for (let stage = 0; stage < plan.agesMs.length; stage++) {
    const age = plan.agesMs[stage]!
    // Whole minutes (the API rounds to them; a state file from elsewhere may not be). What the API no longer serves
    // cannot be swept: fresh polls read it, and its late events are out of reach.
    const due = floorTo(Math.min(throughs[stage] ?? cursorMs, cursorMs), g)
    const start = Math.max(due, oldest)
    const ripe = floorTo(nowMs - age, g)
    const end = Math.min(start + limits.maxWindowMs, cursorMs, ripe)
    if (end - start >= span) return { kind: 'sweep', stage, window: { start: new Date(start), end: new Date(end) }, unreachableMs: start - due }
    // Shorter than a span when everything up to the cursor is ripe (a restart after downtime): the stage then comes
    // level with the cursor, and fresh windows of the catch-up carry it along (afterFreshWindow) instead of the stage
    // reading every catch-up hour again behind them. Whole minutes, as the answer settles them.
    const level = floorTo(cursorMs, g)
    if (ripe >= cursorMs && end >= level && level - start >= limits.minWindowMs) {
      return { kind: 'sweep', stage, window: { start: new Date(start), end: new Date(level) }, unreachableMs: start - due }
    }
    // Not due: when the span will be ripe (if the cursor is past it by then; fresh polls wake the loop anyway).
    if (cursorMs >= start + span) {
      const wait = Math.max(start + span + age - nowMs, 1)
      dueInMs = dueInMs === undefined ? wait : Math.min(dueInMs, wait)
    }
  }
  return { kind: 'none', dueInMs }
}

/**
 * Stage cursors after a fresh window [start, settledEnd] asked at `queriedAtMs`: a stage level with the window start
 * has now read the part of it that was already `age` old when asked (after downtime, most of it), and moves over it
 * instead of asking it again. A stage behind the window start stays: the span before it still needs its sweep.
 */
export function afterFreshWindow(throughs: readonly number[], window: TimeWindow, settledEnd: number, queriedAtMs: number, agesMs: readonly number[], limits: WindowLimits): number[] {
  const start = window.start.getTime()
  return throughs.map((through, stage) => {
    if (through < start) return through
    const readOld = Math.min(settledEnd, floorTo(queriedAtMs - agesMs[stage]!, limits.granularityMs))
    return Math.max(through, readOld)
  })
}

/**
 * The saved stage cursors for the configured ages: a stage saved with the same age keeps its cursor; a new stage
 * (RECEIVER_OVERLAP changed, or a state file from before sweeps) starts from the earliest point anything was still
 * to be asked again (`reaskFrom`, else the oldest saved stage, else the cursor), so nothing is left unswept.
 */
export function loadThroughs(agesMs: readonly number[], saved: ReadonlyArray<{ ageMs: number; throughMs: number }>, cursorMs: number, reaskFromMs: number | undefined): number[] {
  const earliest = Math.min(cursorMs, reaskFromMs ?? cursorMs, ...saved.map((s) => s.throughMs))
  return agesMs.map((age) => Math.min(saved.find((s) => s.ageMs === age)?.throughMs ?? earliest, cursorMs))
}

/** Requests per 24 h the sweeps make when they keep up: each stage reads every span once. */
export function sweepRequestsPerDay(plan: SweepPlan): number {
  return plan.agesMs.length * Math.ceil((24 * 60 * 60_000) / plan.spanMs)
}

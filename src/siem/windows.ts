/**
 * Window arithmetic, pure: cursor + now + the API's limits → the next window to ask for.
 *
 * The SIEM API (v2) accepts `interval=START/END` with END − START between 30 s and 1 h and START at most
 * 7 days in the past; it rounds to the minute. Windows are therefore aligned to whole minutes, so what we
 * ask for is what the server answers and consecutive windows meet exactly (the shared boundary instant is
 * returned by both, because END is inclusive; the poller's exported-key store drops the second copy).
 */
import type { TimeWindow } from './types.js'

export const API_MIN_WINDOW_MS = 30_000
export const API_MAX_WINDOW_MS = 60 * 60_000
export const API_MAX_AGE_MS = 7 * 24 * 60 * 60_000
/** The API server rounds interval bounds to the minute. */
export const API_GRANULARITY_MS = 60_000
/** Keep START this far inside the 7-day limit so the request is still valid when it reaches the server. */
export const MAX_AGE_SAFETY_MS = 5 * 60_000

export interface WindowLimits {
  maxWindowMs: number
  minWindowMs: number
  maxAgeMs: number
  granularityMs: number
}

export const API_LIMITS: WindowLimits = {
  maxWindowMs: API_MAX_WINDOW_MS,
  minWindowMs: API_MIN_WINDOW_MS,
  maxAgeMs: API_MAX_AGE_MS - MAX_AGE_SAFETY_MS,
  granularityMs: API_GRANULARITY_MS,
}

export type WindowPlan =
  | {
      kind: 'window'
      window: TimeWindow
      /** Span before `window.start` that the API no longer serves (cursor older than 7 days), 0 normally. */
      gapMs: number
      /** True when more windows are due right after this one (the end is not the present). */
      catchingUp: boolean
    }
  | { kind: 'wait'; waitMs: number }

const floorTo = (ms: number, step: number): number => Math.floor(ms / step) * step
const ceilTo = (ms: number, step: number): number => Math.ceil(ms / step) * step

/** Where a receiver with no cursor starts: `lookbackMs` before now, on a minute boundary, never past the API's age limit. */
export function initialCursor(nowMs: number, lookbackMs: number, limits: WindowLimits = API_LIMITS): Date {
  const lookback = Math.min(lookbackMs, limits.maxAgeMs)
  return new Date(ceilTo(nowMs - lookback, limits.granularityMs))
}

/** The next window after `cursorMs`, or how long to wait until one of at least the minimum length exists. */
export function planNextWindow(cursorMs: number, nowMs: number, limits: WindowLimits = API_LIMITS): WindowPlan {
  const oldest = ceilTo(nowMs - limits.maxAgeMs, limits.granularityMs)
  const start = Math.max(cursorMs, oldest)
  const gapMs = start - cursorMs
  const latestEnd = floorTo(nowMs, limits.granularityMs)
  const end = Math.min(start + limits.maxWindowMs, latestEnd)
  if (end - start < limits.minWindowMs) {
    // Wait until the next boundary at which the window is long enough.
    const due = ceilTo(start + limits.minWindowMs, limits.granularityMs)
    return { kind: 'wait', waitMs: Math.max(due - nowMs, 1) }
  }
  return {
    kind: 'window',
    window: { start: new Date(start), end: new Date(end) },
    gapMs,
    catchingUp: end < latestEnd,
  }
}

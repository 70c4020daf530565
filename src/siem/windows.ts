/**
 * Window arithmetic, pure. The SIEM API (v2) takes `interval=START/END`, END − START from 30 s to 1 h, START at most
 * 7 days back, and rounds both to the minute: windows are whole minutes, so what is asked is what is answered and
 * consecutive windows meet exactly (END is inclusive: the boundary instant comes twice; the exported keys drop one).
 */
import type { TimeWindow } from './types.js'

export const API_MIN_WINDOW_MS = 30_000
export const API_MAX_WINDOW_MS = 60 * 60_000
export const API_MAX_AGE_MS = 7 * 24 * 60 * 60_000
export const API_GRANULARITY_MS = 60_000
/** Keep START this far inside the 7-day limit so the request is still valid when it reaches the server. */
const MAX_AGE_SAFETY_MS = 5 * 60_000

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
/** The next multiple of `step` strictly after `ms`. */
const nextBoundary = (ms: number, step: number): number => floorTo(ms, step) + step

/** Where a receiver with no cursor starts: `lookbackMs` before now, on a minute boundary, never past the API's age limit. */
export function initialCursor(nowMs: number, lookbackMs: number, limits: WindowLimits = API_LIMITS): Date {
  const lookback = Math.min(lookbackMs, limits.maxAgeMs)
  return new Date(ceilTo(nowMs - lookback, limits.granularityMs))
}

/**
 * The next fresh window: from the cursor up to the last whole minute, at most the maximum window long. New time only:
 * events the API indexes late are the sweeps' (sweeps.ts). Otherwise a wait, until a minimum window has passed.
 */
export function planNextWindow(cursorMs: number, nowMs: number, limits: WindowLimits = API_LIMITS): WindowPlan {
  const g = limits.granularityMs
  const oldest = ceilTo(nowMs - limits.maxAgeMs, g)
  const start = Math.max(cursorMs, oldest)
  const gapMs = Math.max(0, oldest - cursorMs)
  const latestEnd = floorTo(nowMs, g)
  const end = Math.min(start + limits.maxWindowMs, latestEnd)
  if (end - start >= limits.minWindowMs) {
    return { kind: 'window', window: { start: new Date(start), end: new Date(end) }, gapMs, catchingUp: end < latestEnd }
  }
  // Nothing new after the cursor yet, or too little for the minimum window: wait for the boundary that gives both.
  const due = Math.max(ceilTo(start + limits.minWindowMs, g), nextBoundary(cursorMs, g))
  return { kind: 'wait', waitMs: Math.max(due - nowMs, 1) }
}

/** Limits for re-planning after the API rejected a window (400): each further rejection halves the window. */
export function repairedLimits(limits: WindowLimits, rejections: number): WindowLimits {
  if (rejections <= 0) return limits
  const shrunk = Math.max(limits.granularityMs, floorTo(limits.maxWindowMs / 2 ** rejections, limits.granularityMs))
  return {
    ...limits,
    maxWindowMs: shrunk,
    // Keep further inside the 7-day limit in case our clock runs ahead of the API's.
    maxAgeMs: limits.maxAgeMs - rejections * 10 * limits.granularityMs,
  }
}

/** Past either, a window is too big: later windows shrink so a big tenant's catch-up keeps requests and memory in bounds. */
export interface WindowTargets {
  maxEvents: number
  maxBytes: number
}

/**
 * Adaptive window length, pure: after a window of `spanMs` that held `events` events in `bytes` bytes, the longest
 * next window. Over a target, shrink in proportion (whole minutes, never below one: the API minimum is 30 s); under
 * a quarter of both targets, grow back (doubling) towards the API's 1 hour; in between, keep the current length.
 */
export function adaptWindowMs(
  currentMaxMs: number,
  last: { spanMs: number; events: number; bytes: number },
  targets: WindowTargets,
  limits: WindowLimits = API_LIMITS,
): number {
  const load = Math.max(last.events / targets.maxEvents, last.bytes / targets.maxBytes)
  const clamp = (ms: number): number => Math.min(limits.maxWindowMs, Math.max(limits.granularityMs, floorTo(ms, limits.granularityMs)))
  if (load > 1) return clamp(Math.min(currentMaxMs, last.spanMs / load))
  if (load < 0.25) return clamp(currentMaxMs * 2)
  return clamp(currentMaxMs)
}

/** The window length in force: halved per 400 until a success (repairedLimits, behindMs), adapted to the traffic (adaptWindowMs). */
export class WindowSizer {
  private rejections = 0
  private adaptiveMaxMs: number

  constructor(
    private readonly base: WindowLimits,
    private readonly targets: WindowTargets,
  ) {
    this.adaptiveMaxMs = base.maxWindowMs
  }

  get rejected(): number {
    return this.rejections
  }

  limits(): WindowLimits {
    const repaired = repairedLimits(this.base, this.rejections)
    return { ...repaired, maxWindowMs: Math.min(repaired.maxWindowMs, this.adaptiveMaxMs) }
  }

  /** After a 400 the plan also stays this far behind the API's clock, in case our estimate of it runs ahead. */
  behindMs(): number {
    return this.rejections * this.base.granularityMs
  }

  rejectedWindow(): void {
    this.rejections = Math.min(this.rejections + 1, 8)
  }

  answered(): void {
    this.rejections = 0
  }

  /** A window held `events` events in `bytes` bytes: returns the new longest window when it changed. */
  observe(last: { spanMs: number; events: number; bytes: number }): number | undefined {
    const adapted = adaptWindowMs(this.adaptiveMaxMs, last, this.targets, this.base)
    const changed = adapted !== this.adaptiveMaxMs
    this.adaptiveMaxMs = adapted
    return changed ? adapted : undefined
  }
}

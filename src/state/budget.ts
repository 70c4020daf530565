/**
 * The SIEM API request budget: about 1,800 requests per rolling 24 h per credential and endpoint pool (over it the
 * API answers 429 until the oldest request ages out). The poller saves the request times with the cursor, so a
 * crash-restart loop cannot burn the budget.
 */
import { formatDuration } from '../config/duration.js'
import { API_GRANULARITY_MS } from '../siem/windows.js'

export const BUDGET_WINDOW_MS = 24 * 60 * 60_000

/** The share of the budget steady-state polling may use, in tenths: the rest is kept for retries and catch-up. */
const POLLING_SHARE_OF_BUDGET_TENTHS = 9

/**
 * The start-up check that steady-state polling fits in the budget: caught up, the receiver polls once per interval
 * but at most once a minute (windows are whole minutes), ceil(24 h / max(interval, 1m)) requests per rolling 24 h.
 * Returns the problem, naming both settings and the shortest interval that fits. One receiver uses one endpoint pool
 * (clicks/permitted has its own budget).
 */
export function checkRequestBudget(pollIntervalMs: number, budget: number): string | undefined {
  const every = Math.max(pollIntervalMs, API_GRANULARITY_MS)
  const perDay = Math.ceil(BUDGET_WINDOW_MS / every)
  const usable = Math.floor((budget * POLLING_SHARE_OF_BUDGET_TENTHS) / 10)
  if (perDay <= usable) return undefined
  const pace = pollIntervalMs < API_GRANULARITY_MS ? ' (windows are whole minutes: at most one poll a minute)' : ''
  const over = `${formatDuration(pollIntervalMs)} means ${perDay} requests per 24 h${pace}, over the ${usable} that polling may use of PROOFPOINT_REQUEST_BUDGET=${budget} (10 % is kept for retries and catch-up)`
  if (usable < 1) return `${over}; no interval fits: raise PROOFPOINT_REQUEST_BUDGET to at least 2`
  // The shortest interval with ceil(24 h / max(interval, 1m)) <= usable, in whole seconds. perDay > usable means
  // usable < 1440, so it is over a minute: a shorter one polls once a minute, which is what does not fit.
  const minimum = Math.ceil(BUDGET_WINDOW_MS / usable / 1000) * 1000
  return `${over}; use at least ${formatDuration(minimum)} or raise PROOFPOINT_REQUEST_BUDGET to at least ${Math.ceil((perDay * 10) / POLLING_SHARE_OF_BUDGET_TENTHS)}`
}

export class RequestBudget {
  private times: number[]

  constructor(
    readonly limit: number,
    times: readonly number[] = [],
  ) {
    this.times = [...times].sort((a, b) => a - b)
  }

  /** Requests in the 24 h before `now`. */
  used(now: number): number {
    this.prune(now)
    return this.times.length
  }

  /** When the next request may go out: now, or when the oldest counted request leaves the 24 h window. */
  nextAllowedAt(now: number): number {
    this.prune(now)
    if (this.times.length < this.limit) return now
    const oldest = this.times[this.times.length - this.limit] ?? now
    return oldest + BUDGET_WINDOW_MS
  }

  record(at: number): void {
    this.times.push(at)
    this.prune(at)
  }

  /** The request times still inside the window, for the state file. */
  snapshot(now: number): number[] {
    this.prune(now)
    return [...this.times]
  }

  private prune(now: number): void {
    const from = now - BUDGET_WINDOW_MS
    let drop = 0
    while (drop < this.times.length && (this.times[drop] ?? 0) <= from) drop++
    if (drop > 0) this.times = this.times.slice(drop)
  }
}

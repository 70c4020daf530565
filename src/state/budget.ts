/**
 * The SIEM API request budget: about 1,800 requests per rolling 24 h per credential and endpoint pool (over it the
 * API answers 429 until the oldest request ages out). Pure bookkeeping over request times; the poller persists
 * them with the cursor, so a crash-restart loop cannot burn the budget.
 */
export const BUDGET_WINDOW_MS = 24 * 60 * 60_000

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

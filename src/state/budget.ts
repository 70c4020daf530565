/**
 * The SIEM API request budget: about 1,800 requests per rolling 24 h per credential and endpoint pool (over it the
 * API answers 429 until the oldest request ages out). The poller saves the request times with the cursor, so a
 * crash-restart loop cannot burn the budget.
 */
import { formatDuration } from '../config/duration.js'
import { SWEEP_SPAN_MS, sweepAges } from '../siem/sweeps.js'
import { API_GRANULARITY_MS, API_MAX_WINDOW_MS } from '../siem/windows.js'

export const BUDGET_WINDOW_MS = 24 * 60 * 60_000

/** The share of the budget steady-state polling may use, in tenths: the rest is kept for retries and catch-up. */
const POLLING_SHARE_OF_BUDGET_TENTHS = 9

const MINUTE_MS = 60_000
/** Polls per 24 h when caught up: one per interval but at most one a minute (windows are whole minutes). */
const pollsPerDay = (pollIntervalMs: number): number => Math.ceil(BUDGET_WINDOW_MS / Math.max(pollIntervalMs, API_GRANULARITY_MS))
const usableOf = (budget: number): number => Math.floor((budget * POLLING_SHARE_OF_BUDGET_TENTHS) / 10)
/** A sweep stage reads every span once a day; at the longest span (1 h, the API's maximum) that is 24 requests. */
const MIN_SWEEPS_PER_STAGE = Math.ceil(BUDGET_WINDOW_MS / API_MAX_WINDOW_MS)

/**
 * The span the late-event sweeps read at once: SWEEP_SPAN_MS (20 min), or longer (whole minutes, at most the API's
 * 1 h) when polls and sweeps would not fit in the share of the budget polling may use; undefined when even 1 h does not.
 */
export function sweepSpanFor(pollIntervalMs: number, budget: number, stages: number): number | undefined {
  const spare = usableOf(budget) - pollsPerDay(pollIntervalMs)
  if (stages === 0) return spare >= 0 ? SWEEP_SPAN_MS : undefined
  const perStage = Math.floor(spare / stages)
  if (perStage < MIN_SWEEPS_PER_STAGE) return undefined
  return Math.max(SWEEP_SPAN_MS, Math.ceil(BUDGET_WINDOW_MS / perStage / MINUTE_MS) * MINUTE_MS)
}

/** What the receiver asks of the API per 24 h when caught up, as check-config prints it. Undefined when it does not fit. */
export function describeRequestPlan(pollIntervalMs: number, budget: number, overlapMs: number): string | undefined {
  const ages = sweepAges(overlapMs)
  const span = sweepSpanFor(pollIntervalMs, budget, ages.length)
  if (span === undefined) return undefined
  const polls = pollsPerDay(pollIntervalMs)
  const sweeps = ages.length * Math.ceil(BUDGET_WINDOW_MS / span)
  const swept =
    ages.length === 0
      ? ' and no late-event sweeps (RECEIVER_OVERLAP=0s)'
      : ` + ${sweeps} late-event sweeps (every span read again at ${ages.map((a) => formatDuration(a)).join(' and ')}, ${formatDuration(span)} at a time)`
  return `request plan: ${polls} polls${swept} = ${polls + sweeps} SIEM API requests per 24 h when caught up, of the ${usableOf(budget)} polling may use (PROOFPOINT_REQUEST_BUDGET=${budget})`
}

/**
 * The start-up check that steady-state polling fits in the budget: caught up, the receiver polls once per interval but
 * at most once a minute (windows are whole minutes), ceil(24 h / max(interval, 1m)) requests per rolling 24 h, and its
 * late-event sweeps (one stage per sweepAges(overlap)) read every span again: at least 24 requests a day per stage (1 h
 * spans; 72 at the usual 20 min). Returns the problem, naming the settings and the shortest interval and the smallest
 * budget that fit. One receiver uses one endpoint pool (clicks/permitted has its own budget).
 */
export function checkRequestBudget(pollIntervalMs: number, budget: number, overlapMs = 0): string | undefined {
  const stages = sweepAges(overlapMs).length
  if (sweepSpanFor(pollIntervalMs, budget, stages) !== undefined) return undefined
  const perDay = pollsPerDay(pollIntervalMs)
  const sweeps = stages * MIN_SWEEPS_PER_STAGE
  const usable = usableOf(budget)
  const pace = pollIntervalMs < API_GRANULARITY_MS ? ' (windows are whole minutes: at most one poll a minute)' : ''
  const swept = sweeps === 0 ? '' : `, plus at least ${sweeps} for the late-event sweeps (RECEIVER_OVERLAP=${formatDuration(overlapMs)}: every hour read again by ${stages} ${stages === 1 ? 'sweep' : 'sweeps'})`
  const over = `${formatDuration(pollIntervalMs)} means ${perDay} requests per 24 h${pace}${swept}, over the ${usable} that polling may use of PROOFPOINT_REQUEST_BUDGET=${budget} (10 % is kept for retries and catch-up)`
  const least = Math.ceil(((perDay + sweeps) * 10) / POLLING_SHARE_OF_BUDGET_TENTHS)
  const forPolls = usable - sweeps
  if (forPolls < 1) return `${over}; no interval fits: raise PROOFPOINT_REQUEST_BUDGET to at least ${Math.max(2, Math.ceil(((1 + sweeps) * 10) / POLLING_SHARE_OF_BUDGET_TENTHS))}`
  // The shortest interval with ceil(24 h / max(interval, 1m)) <= forPolls, in whole seconds. perDay > forPolls means
  // forPolls < 1440, so it is over a minute: a shorter one polls once a minute, which is what does not fit.
  const minimum = Math.ceil(BUDGET_WINDOW_MS / forPolls / 1000) * 1000
  return `${over}; use at least ${formatDuration(minimum)} or raise PROOFPOINT_REQUEST_BUDGET to at least ${least}`
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

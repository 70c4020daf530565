/**
 * The SIEM API as the window run sees it: a request goes out only within PROOFPOINT_REQUEST_BUDGET (the loop waits for
 * it first), is counted durably before it goes out (a crash-restart loop must not get a fresh budget), and its answer
 * or failure is reported to /status and /metrics. Only the source's own failures are reported: what the window run
 * does with a batch (an export failing) never enters this iterator.
 */
import type { Logger } from 'pino'
import { BudgetExhaustedError } from '../errors.js'
import type { ApiClock } from '../siem/api-clock.js'
import type { EventBatch, WindowEvents, WindowSummary } from '../siem/client.js'
import type { RawMode, TimeWindow } from '../siem/types.js'
import { RequestBudget } from '../state/index.js'
import type { ReceiverStatus } from '../status/index.js'
import type { PollReporter } from './reporting.js'
import type { WindowSource } from './types.js'
import type { Waits } from './waits.js'

export interface RequestGateDeps {
  source: WindowSource
  requestBudget: number
  status: ReceiverStatus
  logger: Logger
  clock: () => number
  /** Elapsed time that no wall clock step moves (the request budget ages by it). */
  monotonic: () => number
  apiClock: ApiClock
  waits: Waits
  reporter: PollReporter
  signal: AbortSignal
  saveRequests: (apiRequests: number[]) => Promise<unknown>
}

/**
 * The request budget is counted on the wall clock as it read at load, moved on by the monotonic clock since: the API
 * counts 24 real hours, so a wall clock stepped back 12 h must not keep the last 12 h of requests "in the future" for
 * 12 h more (polling stalled while the API's own count was half used), nor one stepped forward age them early. Times
 * go to the state file on the wall clock of the moment (shifted by any step since), so a restart reads them as before.
 */
export class RequestGate implements WindowSource {
  private budget = new RequestBudget(Infinity)
  private latestQueriedAt = 0
  private latestQueriedMono = 0
  private anchorWall: number
  private anchorMono: number

  constructor(private readonly deps: RequestGateDeps) {
    this.anchorWall = deps.clock()
    this.anchorMono = deps.monotonic()
  }

  load(apiRequests: readonly number[]): void {
    this.anchorWall = this.deps.clock()
    this.anchorMono = this.deps.monotonic()
    this.budget = new RequestBudget(this.deps.requestBudget, apiRequests)
  }

  /** Now on the budget's timeline. */
  private budgetNow(): number {
    return this.anchorWall + (this.deps.monotonic() - this.anchorMono)
  }

  /** The wall clock minus the budget's timeline: what a wall clock step since load added. */
  private wallShift(): number {
    return this.deps.clock() - this.budgetNow()
  }

  /** Requests in the 24 h before `wallNow` (a wall clock time, as /status asks). */
  requestsUsed(wallNow: number): number {
    return this.budget.used(wallNow - this.wallShift())
  }

  /** The request times inside the budget's 24 h, on the wall clock of now: for the state file. */
  savedRequests(): number[] {
    const shift = this.wallShift()
    return this.budget.snapshot(this.budgetNow()).map((t) => t + shift)
  }

  /**
   * When the latest request went out, by the API's clock (what a request settles is a matter of the API's clock). Read
   * again now: the first request of a process goes out before any answer told the API's time, planned by a wall clock
   * that may run ahead; the answer's Date header, less the monotonic time since the request, bounds it.
   */
  get queriedAt(): number {
    return Math.min(this.latestQueriedAt, this.deps.apiClock.now() - (this.deps.monotonic() - this.latestQueriedMono))
  }

  /** Waits until the budget allows one more request (false: stopped while waiting). */
  async awaitBudget(): Promise<boolean> {
    const { status, logger, signal, requestBudget } = this.deps
    let allowedAt = this.budget.nextAllowedAt(this.budgetNow())
    if (allowedAt <= this.budgetNow()) return true
    logger.warn(
      { budget: requestBudget, resumeAt: new Date(allowedAt + this.wallShift()).toISOString() },
      'the SIEM API request budget (PROOFPOINT_REQUEST_BUDGET per 24 h) is used up: waiting for the oldest request to age out',
    )
    while (allowedAt > this.budgetNow() && !signal.aborted) {
      status.setPhase('budget_wait')
      status.setRequestBudget(requestBudget, allowedAt + this.wallShift())
      // Wake at least every minute to look again (and to show the wait's end on the wall clock of the moment).
      await this.deps.waits.pause(Math.min(allowedAt - this.budgetNow(), 60_000), { reason: 'budget' })
      allowedAt = this.budget.nextAllowedAt(this.budgetNow())
    }
    status.setRequestBudget(requestBudget, undefined)
    return !signal.aborted
  }

  events(window: TimeWindow, signal: AbortSignal, batchEvents: number, raw: RawMode = false): WindowEvents {
    const inner = this.deps.source.events(window, signal, batchEvents, raw)
    // Raw batches are parsed by the window run after the body ended: the answer is reported when it settles, so that
    // an event that is not JSON makes the request a failure in /status and /metrics, as it does when parsed here.
    const report: Report | undefined = raw === false ? undefined : { settled: false }
    return {
      get summary() {
        return inner.summary
      },
      get answered() {
        return inner.answered
      },
      [Symbol.asyncIterator]: () => this.requested(inner, report),
      settle: (parseError?: unknown) => {
        if (report === undefined || report.settled) return
        report.settled = true
        if (parseError !== undefined && report.started !== undefined) this.deps.reporter.requestFailed(parseError, report.started)
        else report.answered?.()
      },
    }
  }

  private async *requested(inner: WindowEvents, report: Report | undefined): AsyncGenerator<EventBatch> {
    const { reporter } = this.deps
    const requestedAt = this.budgetNow()
    if (this.budget.nextAllowedAt(requestedAt) > requestedAt) throw new BudgetExhaustedError()
    // Saved first, then counted: a save that fails (a full disk) sends nothing, and must not take from the budget.
    await this.deps.saveRequests([...this.savedRequests(), requestedAt + this.wallShift()])
    this.budget.record(requestedAt)
    this.latestQueriedAt = this.deps.apiClock.now()
    this.latestQueriedMono = this.deps.monotonic()
    const started = performance.now()
    if (report !== undefined) report.started = started
    let failed = false
    try {
      let first = true
      for await (const batch of inner) {
        if (first) reporter.firstEvents()
        first = false
        yield batch
      }
    } catch (err) {
      failed = true
      if (report !== undefined) report.settled = true
      if (!this.deps.signal.aborted) reporter.requestFailed(err, started)
      throw err
    } finally {
      // Left before the body's end (an export failed, or a stop): the API answered all the same, and /metrics and
      // /status must not make a collector's outage look like the API's (no request counted, no successful poll).
      const partial = inner.answered
      if (!failed && inner.summary === undefined && partial !== undefined) this.answered(partial, started, report)
    }
    this.answered(inner.summary!, started, report)
  }

  /** Reports an answer now, or (raw batches) when the window run settles it. */
  private answered(summary: WindowSummary, started: number, report: Report | undefined): void {
    const { reporter } = this.deps
    if (report === undefined) reporter.requestAnswered(summary, started)
    else if (!report.settled) report.answered = () => reporter.requestAnswered(summary, started)
  }
}

/** A raw request's report, made when the window run settles it (WindowEvents.settle). */
interface Report {
  settled: boolean
  /** performance.now() when the request went out. */
  started?: number
  /** Set when the body ended: reports the request answered. */
  answered?: () => void
}

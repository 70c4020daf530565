/**
 * The SIEM API as the window run sees it: a request goes out only within PROOFPOINT_REQUEST_BUDGET (the loop waits for
 * it first), is counted durably before it goes out (a crash-restart loop must not get a fresh budget), and its answer
 * or failure is reported to /status and /metrics. Only the source's own failures are reported: what the window run
 * does with a batch (an export failing) never enters this iterator.
 */
import type { Logger } from 'pino'
import { BudgetExhaustedError } from '../errors.js'
import type { ApiClock } from '../siem/api-clock.js'
import type { EventBatch, WindowEvents } from '../siem/client.js'
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
  apiClock: ApiClock
  waits: Waits
  reporter: PollReporter
  signal: AbortSignal
  saveRequests: (apiRequests: number[]) => Promise<unknown>
}

export class RequestGate implements WindowSource {
  private budget = new RequestBudget(Infinity)
  private latestQueriedAt = 0

  constructor(private readonly deps: RequestGateDeps) {}

  load(apiRequests: readonly number[]): void {
    this.budget = new RequestBudget(this.deps.requestBudget, apiRequests)
  }

  get requests(): RequestBudget {
    return this.budget
  }

  /** When the latest request went out, by the API's clock (what a request settles is a matter of the API's clock). */
  get queriedAt(): number {
    return this.latestQueriedAt
  }

  /** Waits until the budget allows one more request (false: stopped while waiting). */
  async awaitBudget(): Promise<boolean> {
    const { status, logger, clock, signal, requestBudget } = this.deps
    let allowedAt = this.budget.nextAllowedAt(clock())
    if (allowedAt <= clock()) return true
    logger.warn(
      { budget: requestBudget, resumeAt: new Date(allowedAt).toISOString() },
      'the SIEM API request budget (PROOFPOINT_REQUEST_BUDGET per 24 h) is used up: waiting for the oldest request to age out',
    )
    while (allowedAt > clock() && !signal.aborted) {
      status.setPhase('budget_wait')
      status.setRequestBudget(requestBudget, allowedAt)
      // The budget is kept in wall-clock times (they are saved across restarts); wake at least every minute to
      // look again, so a wall clock jump is noticed.
      await this.deps.waits.pause(Math.min(allowedAt - clock(), 60_000), { reason: 'budget' })
      allowedAt = this.budget.nextAllowedAt(clock())
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
    const { clock, reporter } = this.deps
    if (this.budget.nextAllowedAt(clock()) > clock()) throw new BudgetExhaustedError()
    const requestedAt = clock()
    this.budget.record(requestedAt)
    await this.deps.saveRequests(this.budget.snapshot(requestedAt))
    this.latestQueriedAt = this.deps.apiClock.now()
    const started = performance.now()
    if (report !== undefined) report.started = started
    try {
      yield* inner
    } catch (err) {
      if (report !== undefined) report.settled = true
      if (!this.deps.signal.aborted) reporter.requestFailed(err, started)
      throw err
    }
    const summary = inner.summary!
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

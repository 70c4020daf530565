/**
 * The poll loop: window → fetch → map → drop already-exported → export (acknowledged) → commit the cursor. The cursor
 * moves only once the collector acknowledged every record of the window and the new state is on disk; every failure
 * is retried in place with backoff, so a long outage never makes the loop poll ahead.
 */
import { formatDuration } from '../config/duration.js'
import { AUTH_BACKOFF, DEFAULT_BACKOFF, backoffDelay, sleep as defaultSleep } from '../backoff.js'
import { BudgetExhaustedError, SiemBadRequestError, WorkerError, errorInfo } from '../errors.js'
import type { LogRecordParts } from '../mapping/types.js'
import { ApiClock, monotonicNow } from '../siem/api-clock.js'
import { EVENT_TYPES } from '../siem/types.js'
import type { TimeWindow } from '../siem/types.js'
import { SWEEP_SPAN_MS, planSweep, sweepAges } from '../siem/sweeps.js'
import type { SweepPlan } from '../siem/sweeps.js'
import { API_LIMITS, WindowSizer, planNextWindow } from '../siem/windows.js'
import type { WindowLimits } from '../siem/windows.js'
import { UidKeyMap } from '../state/index.js'
import { answeredThrough } from './api-time.js'
import { ClockCheck } from './clock-check.js'
import { nextState, sum, tally, throughsOf } from './commit.js'
import type { Acknowledged } from './commit.js'
import { NoEventsAlerts } from './no-events-alert.js'
import { PollState } from './poll-state.js'
import { PollReporter } from './reporting.js'
import { RequestGate } from './request-gate.js'
import type { ExportOutcome, PollerDeps, PollerOptions } from './types.js'
import { Waits } from './waits.js'
import { runWindow } from './window-run.js'
import type { WindowAttempt, WindowRunDeps } from './window-run.js'

const isoWindow = (w: TimeWindow): { start: string; end: string } => ({ start: w.start.toISOString(), end: w.end.toISOString() })

/** Worker failures in a row on one window before it is mapped in the main thread (the first may be a one-off crash). */
export const WORKER_FAILURES_BEFORE_MAIN_THREAD = 2

function withoutWorkers(run: WindowRunDeps): WindowRunDeps {
  const { workers: _threads, ...rest } = run
  return rest
}

export class Poller {
  private readonly opts: Required<Omit<PollerOptions, 'source'>> & Pick<PollerOptions, 'source'>
  private readonly clock: () => number
  private readonly monotonic: () => number
  private readonly apiClock: ApiClock
  private readonly abort = new AbortController()
  private running: Promise<void> | undefined
  private readonly gate: RequestGate
  private readonly sizer: WindowSizer
  private readonly reporter: PollReporter
  private readonly waits: Waits
  private readonly state: PollState
  private readonly alerts: NoEventsAlerts
  private readonly clockCheck: ClockCheck
  /** The late-event sweeps: stage ages from RECEIVER_OVERLAP, span from the budget (see siem/sweeps.ts). */
  private readonly sweeps: SweepPlan
  /** Monotonic time the last window was first asked for: once caught up, the next is due a poll interval later. */
  private lastPollMono: number | undefined
  /** When start() ran: a fresh cursor looks back from there, by the API's clock. */
  private startedMono = 0
  /** A plan found nothing behind the API's present but the next window: the no-events alert may be judged. */
  private caughtUp = false

  constructor(opts: PollerOptions, private readonly deps: PollerDeps) {
    this.opts = { limits: API_LIMITS, backoff: DEFAULT_BACKOFF, authBackoff: AUTH_BACKOFF, sweepSpanMs: SWEEP_SPAN_MS, ...opts }
    const { status, logger } = deps
    const clock = (this.clock = deps.clock ?? Date.now)
    const monotonic = (this.monotonic = deps.monotonic ?? monotonicNow)
    const apiClock = (this.apiClock = deps.apiClock ?? new ApiClock(clock, monotonic))
    const signal = this.abort.signal
    this.sizer = new WindowSizer(this.opts.limits, this.opts.windowTargets)
    this.sweeps = { agesMs: sweepAges(opts.overlapMs), spanMs: this.opts.sweepSpanMs }
    this.reporter = new PollReporter(status, deps.metrics, clock, monotonic)
    const { backoff, authBackoff } = this.opts
    const waits = (this.waits = new Waits({ status, logger, sleep: deps.sleep ?? defaultSleep, signal, clock, monotonic, backoff, authBackoff }))
    const state = (this.state = new PollState({ store: deps.store, status, logger, waits }))
    this.gate = new RequestGate({
      source: deps.source,
      requestBudget: opts.requestBudget,
      status, logger, clock, monotonic, apiClock, waits, signal,
      reporter: this.reporter,
      saveRequests: (apiRequests) => state.save({ ...state.current, apiRequests }),
    })
    const send = (records: LogRecordParts[]): Promise<ExportOutcome> => this.reporter.exported(deps.sink, records)
    this.alerts = new NoEventsAlerts({ status, logger, clock, waits, state, send })
    this.clockCheck = new ClockCheck({ status, logger, apiClock, state, lookbackMs: this.opts.startLookbackMs, limits: this.opts.limits })
  }

  /** Loads the state (throws StateError when it is unusable) and starts the loop in the background. */
  async start(): Promise<void> {
    const { status, logger } = this.deps
    const state = await this.state.load(this.clock, this.opts.startLookbackMs, this.opts.limits, this.sweeps.agesMs, this.opts.source)
    status.sweeps.configure(this.sweeps.agesMs, this.sweeps.spanMs)
    status.sweeps.setThroughs(throughsOf(state))
    this.startedMono = this.monotonic()
    // The API answered through the cursor: its clock had reached it, whatever this machine's says.
    this.apiClock.atLeast(Date.parse(state.cursor))
    this.gate.load(state.apiRequests ?? [])
    status.setApiRequestCounter((at) => this.gate.requestsUsed(at))
    status.setRequestBudget(this.opts.requestBudget, undefined)
    this.running = this.loop().catch((err: unknown) => {
      // Only a bug gets here: every expected failure is retried inside the loop.
      logger.fatal({ err }, 'poll loop crashed')
      throw err
    })
  }

  /** Stops polling; an in-flight window is abandoned without moving the cursor. */
  async stop(): Promise<void> {
    this.abort.abort()
    await this.running?.catch(() => undefined)
  }

  private async loop(): Promise<void> {
    const { status, logger } = this.deps
    while (!this.abort.signal.aborted) {
      // Judged only once caught up: after downtime the backlog may hold the very events whose absence it would report.
      if (this.caughtUp && !(await this.alerts.raise())) break
      // Plan only once a request may go out: a window planned before a long budget wait would be stale.
      if (!(await this.gate.awaitBudget())) break
      // Windows are planned by the API's clock, not ours (see ApiClock): asking past its present is a 400 or a loss.
      const now = this.apiClock.now()
      this.clockCheck.follow(now, now - (this.monotonic() - this.startedMono))
      const state = this.state.current
      const cursor = Date.parse(state.cursor)
      const planNow = now - this.sizer.behindMs()
      const limits = this.sizer.limits()
      // A ripe sweep goes first: it is due at most once per span and stage, and fresh polls never wait long for it.
      const sweep = planSweep(throughsOf(state), cursor, planNow, this.sweeps, limits)
      const plan = sweep.kind === 'sweep' ? sweep : planNextWindow(cursor, planNow, limits)
      if (plan.kind === 'wait' || (plan.kind === 'window' && !plan.catchingUp)) this.caughtUp = true
      if (plan.kind === 'wait') {
        status.setPhase('waiting')
        await this.waits.pause(Math.min(plan.waitMs, sweep.kind === 'none' ? (sweep.dueInMs ?? Infinity) : Infinity), { reason: 'next_window' })
        continue
      }
      if (plan.kind === 'sweep') {
        status.setPhase('polling')
        const outcome = await this.processWindow(plan.window, 0, plan.stage, plan.unreachableMs)
        if (outcome === 'stopped' || this.abort.signal.aborted) break
        if (outcome === 'bad-window') await this.badWindow()
        if (outcome === 'done' || outcome === 'short') this.sizer.answered()
        // The API's data ends before the span (queryEndTime): ask again a poll interval later, not at once.
        if (outcome === 'short') await this.waits.pause(this.opts.pollIntervalMs, { reason: 'poll_interval' })
        continue
      }
      if (plan.gapMs > 0) {
        logger.error(
          { gapSeconds: Math.round(plan.gapMs / 1000), from: state.cursor, to: plan.window.start.toISOString() },
          'the cursor is older than the SIEM API serves (7 days): events created in this span can no longer be fetched and are lost; counted in /status gapSeconds',
        )
      }
      status.setPhase(plan.catchingUp ? 'catching_up' : 'polling')
      const outcome = await this.processWindow(plan.window, plan.gapMs, undefined)
      if (outcome === 'stopped' || this.abort.signal.aborted) break
      if (outcome === 'replan') continue
      if (outcome === 'bad-window') {
        await this.badWindow()
        continue
      }
      this.sizer.answered()
      if (!plan.catchingUp || outcome === 'short') {
        // Caught up (or the API has no more yet): the next request is due one poll interval after this one went out.
        // Measured on the monotonic clock, so a wall clock jump neither stretches nor skips the wait.
        const wait = (this.lastPollMono ?? this.monotonic()) + this.opts.pollIntervalMs - this.monotonic()
        status.setPhase('waiting')
        if (wait > 0) await this.waits.pause(wait, { reason: 'poll_interval' })
      }
    }
  }

  /** The API refused a window (400): later ones are smaller and younger, after a backoff. */
  private async badWindow(): Promise<void> {
    this.sizer.rejectedWindow()
    this.deps.status.setPhase('backing_off')
    await this.waits.pause(backoffDelay(this.sizer.rejected - 1, this.opts.backoff), { reason: 'backoff', what: 'fetch' })
  }

  /**
   * One window (runWindow, retried until it succeeds; acknowledged records are not sent again), then the commit.
   * `stage`: undefined for a fresh window, else the sweep stage that reads it again.
   */
  private async processWindow(window: TimeWindow, gapMs: number, stage: number | undefined, unreachableMs = 0): Promise<'done' | 'short' | 'stopped' | 'bad-window' | 'replan'> {
    const { status, logger } = this.deps
    const started = this.clock()
    const done: Acknowledged = new UidKeyMap()
    let attempt: WindowAttempt | undefined
    // The poll cadence counts from a fresh window's first attempt: retries and sweeps do not push the next poll back.
    if (stage === undefined) this.lastPollMono = this.monotonic()
    const run: WindowRunDeps = {
      source: this.gate,
      exportRecords: (records) => this.reporter.exported(this.deps.sink, records),
      batchSize: this.opts.exportBatchSize,
      concurrency: this.deps.sink.maxConcurrency ?? 1,
      mapping: this.opts.mapping,
      exported: this.state.exported,
      logger,
      clock: this.clock,
      progress: () => status.progress(this.monotonic(), this.clock()),
      count: (type, counts) => {
        status.count(type, counts)
        // Counted as exported, so also in a sweep left before its commit (its records are then saved as known).
        if (stage !== undefined && counts.exported) status.sweeps.found(stage, counts.exported)
      },
      ...(this.deps.onExported ? { onExported: this.deps.onExported } : {}),
      ...(this.deps.workers ? { workers: this.deps.workers } : {}),
    }
    // Threads that fail on this window again and again (one event that kills them, a thread that cannot start) must not
    // hold the cursor for good: after WORKER_FAILURES_BEFORE_MAIN_THREAD in a row, the window is mapped here (the same
    // records, byte for byte); the next window uses the threads again.
    let workerFailures = 0
    const attemptWindow = async (): Promise<WindowAttempt> => {
      const inMain = run.workers !== undefined && workerFailures >= WORKER_FAILURES_BEFORE_MAIN_THREAD
      if (inMain && workerFailures === WORKER_FAILURES_BEFORE_MAIN_THREAD) {
        logger.warn({ window: isoWindow(window), failures: workerFailures }, 'the worker threads failed on this window every time: mapping it in the main thread')
      }
      try {
        return await runWindow(inMain ? withoutWorkers(run) : run, window, this.abort.signal, done)
      } catch (err) {
        if (err instanceof WorkerError) workerFailures++
        throw err
      }
    }
    // Stopped before the window's commit was saved (mid-window, while the alert's clear record was in flight, or while
    // the commit's save was failing): the keys the collector acknowledged are saved, cursor and alert flag unchanged,
    // so the restart sends only the rest.
    const stopped = async (): Promise<'stopped'> => {
      await this.state.keepAcknowledged(window, done, () => this.gate.savedRequests())
      return 'stopped'
    }
    try {
      attempt = await this.waits.retry('fetch', attemptWindow, (err) => err instanceof SiemBadRequestError || err instanceof BudgetExhaustedError)
    } catch (err) {
      // Planned again (a smaller window, or after the budget's wait): what an earlier attempt delivered is not sent again.
      if (err instanceof BudgetExhaustedError || err instanceof SiemBadRequestError) {
        await this.state.keepAcknowledged(window, done, () => this.gate.savedRequests(), 'leaving the window to plan it again')
      }
      if (err instanceof BudgetExhaustedError) return 'replan'
      if (!(err instanceof SiemBadRequestError)) throw err
      logger.error({ err: errorInfo(err), apiMessage: err.apiMessage, window: isoWindow(window) }, 'the SIEM API rejected the window; asking again with a smaller, younger window')
      return 'bad-window'
    }
    if (attempt === undefined) return stopped()
    const { counts, fresh, summary } = attempt

    const outcome = tally(fresh, done)
    const exportedCount = sum(outcome.exported)
    if (exportedCount > 0 && !(await this.alerts.clear())) return stopped()

    // The cursor never moves past the API's data (queryEndTime) or its present: the rest of the window is asked again.
    const answeredEnd = answeredThrough(window, summary.queryEndTime, this.apiClock.now(), this.opts.limits)
    // A sweep settles only what was `age` old when it was asked, by the API's clock as its answer told it: planned by a
    // wall clock running ahead (the first request of a process), it may have read spans too young.
    const settledEnd = stage === undefined ? answeredEnd : Math.min(answeredEnd, ripeBy(this.gate.queriedAt, this.sweeps.agesMs[stage]!, this.opts.limits))
    if (settledEnd < answeredEnd) {
      logger.warn(
        { window: isoWindow(window), through: new Date(Math.max(settledEnd, window.start.getTime())).toISOString(), clockSkewSeconds: Math.round((this.apiClock.skewMs() ?? 0) / 1000) },
        "the late-event sweep was planned by this machine's clock, ahead of the SIEM API's: it counts only what was old enough by the API's clock and reads the rest again",
      )
    } else if (settledEnd < window.end.getTime()) {
      logger.warn(
        { window: isoWindow(window), queryEndTime: summary.queryEndTime ?? null, through: new Date(settledEnd).toISOString() },
        'the SIEM API answered the window only in part (queryEndTime, or its clock is behind the window end): the cursor stops there and the rest is asked again',
      )
    }
    const now = this.clock()
    const previous = this.state.current
    const next = nextState({
      state: this.state.current, window, stage, settledEnd, queriedAt: this.gate.queriedAt, gapMs, agesMs: this.sweeps.agesMs,
      exported: this.state.exported, fresh, exportedCount, limits: this.opts.limits, now, apiRequests: this.gate.savedRequests(),
    })
    if (!(await this.state.commit(next.state, next.exported))) return stopped()
    // What a sweep exports no earlier request returned: the API indexed it late.
    if (stage !== undefined) status.sweeps.swept(stage, now, window.start.getTime(), settledEnd, exportedCount)
    if (stage !== undefined && unreachableMs > 0) this.unswept(stage, window.start.getTime() - unreachableMs, window.start.getTime())
    // Past a gap the stages came along (nextState): only what the cursor had read before the gap is theirs to miss.
    if (gapMs > 0) throughsOf(previous).forEach((through, i) => this.unswept(i, through, Date.parse(previous.cursor)))
    status.progress(this.monotonic(), this.clock())
    const adapted = this.sizer.observe({ spanMs: window.end.getTime() - window.start.getTime(), events: summary.events, bytes: summary.bytes })
    if (adapted !== undefined) logger.info({ events: summary.events, bytes: summary.bytes, maxWindowMinutes: adapted / 60_000 }, 'window length adapted to the traffic')
    // The records sent were counted as the collector answered (run.count); what was skipped as known counts now.
    for (const type of EVENT_TYPES) status.count(type, { received: counts[type].duplicates, duplicates: counts[type].duplicates })
    const { events: received, bytes } = summary
    const [duplicates, malformed] = (['duplicates', 'malformed'] as const).map((what) => EVENT_TYPES.reduce((n, t) => n + counts[t][what], 0))
    const report = { window: isoWindow(window), received, exported: exportedCount, rejected: sum(outcome.rejected), duplicates, malformed, bytes }
    const sweepInfo = stage === undefined ? {} : { sweepAge: formatDuration(this.sweeps.agesMs[stage]!), lateEvents: exportedCount }
    logger.info({ ...report, ...sweepInfo, durationMs: this.clock() - started, cursor: next.state.cursor }, stage === undefined ? 'window done' : 'sweep done')
    return settledEnd < window.end.getTime() ? 'short' : 'done'
  }

  /** Sweep `stage` can no longer read [from, to) again (the API serves 7 days back): said and counted. */
  private unswept(stage: number, from: number, to: number): void {
    if (to <= from) return
    this.deps.status.sweeps.unreachable(stage, to - from)
    this.deps.logger.warn(
      { sweepAge: formatDuration(this.sweeps.agesMs[stage]!), from: new Date(from).toISOString(), to: new Date(to).toISOString(), unreachableSeconds: (to - from) / 1000 },
      'the late-event sweep could not read this span again: the SIEM API serves 7 days back only. Its events were exported when first read; any it indexed late were not looked for (/status sweeps unreachableSeconds)',
    )
  }
}

/** The end (floored to the API's granularity) of what a request asked at `queriedAt` read at least `ageMs` after it happened. */
function ripeBy(queriedAt: number, ageMs: number, limits: WindowLimits): number {
  return Math.floor((queriedAt - ageMs) / limits.granularityMs) * limits.granularityMs
}

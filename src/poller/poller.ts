/**
 * The poll loop: window → fetch → map → drop already-exported → export (acknowledged) → commit the cursor.
 *
 * The cursor moves only after the collector acknowledged every record of the window and the new state is on
 * disk. Every failure is retried with backoff in place, so a long outage never makes the loop poll ahead:
 * memory holds at most one window.
 */
import { AUTH_BACKOFF, DEFAULT_BACKOFF, backoffDelay, sleep as defaultSleep } from '../backoff.js'
import { BudgetExhaustedError, SiemBadRequestError, errorInfo } from '../errors.js'
import type { LogRecordParts } from '../mapping/types.js'
import { ApiClock, monotonicNow } from '../siem/api-clock.js'
import { EVENT_TYPES } from '../siem/types.js'
import type { TimeWindow } from '../siem/types.js'
import { API_LIMITS, WindowSizer, initialCursor, planNextWindow } from '../siem/windows.js'
import { MAX_STATE_CLOCK_SKEW_MS, STATE_VERSION, UidKeyMap, checkStateTimes } from '../state/index.js'
import type { ReceiverState } from '../state/index.js'
import { nextState, sum, tally, withAcknowledged } from './commit.js'
import type { Acknowledged } from './commit.js'
import { PollReporter } from './reporting.js'
import type { PollerDeps, PollerOptions } from './types.js'
import { answeredThrough, cursorForApiClock } from './api-time.js'
import { RequestGate } from './request-gate.js'
import { Waits } from './waits.js'
import { runWindow } from './window-run.js'
import type { WindowAttempt } from './window-run.js'

export class Poller {
  private readonly opts: Required<PollerOptions>
  /** The SIEM client as the window run sees it: each request within the budget, counted, reported. */
  private readonly gate: RequestGate
  private readonly deps: PollerDeps
  private readonly clock: () => number
  private readonly monotonic: () => number
  private readonly apiClock: ApiClock
  /** Monotonic time the last window was first asked for: once caught up, the next is due a poll interval later. */
  private lastPollMono: number | undefined
  private readonly abort = new AbortController()
  private running: Promise<void> | undefined
  private state: ReceiverState | undefined
  /** The state's exportedKeys, decoded: the uids a poll must not export again. Replaced at each commit. */
  private exported = new UidKeyMap()
  /** The window length in force: shorter after a 400 or a very big window, back to the API's maximum later. */
  private readonly sizer: WindowSizer
  private readonly reporter: PollReporter
  private readonly waits: Waits
  /** No window committed yet in this state: the cursor is only where RECEIVER_START_LOOKBACK put it. */
  private freshCursor = false
  private startedMono = 0
  /** The clock skew last warned about (ms), so the warning is not repeated every poll. */
  private warnedSkewMs: number | undefined

  constructor(opts: PollerOptions, deps: PollerDeps) {
    this.opts = {
      limits: API_LIMITS,
      backoff: DEFAULT_BACKOFF,
      authBackoff: AUTH_BACKOFF,
      ...opts,
    }
    this.deps = deps
    this.clock = deps.clock ?? Date.now
    this.monotonic = deps.monotonic ?? monotonicNow
    this.apiClock = deps.apiClock ?? new ApiClock(this.clock, this.monotonic)
    this.sizer = new WindowSizer(this.opts.limits, this.opts.windowTargets)
    this.reporter = new PollReporter(deps.status, deps.metrics, this.clock, this.monotonic)
    this.waits = new Waits({
      status: deps.status,
      logger: deps.logger,
      sleep: deps.sleep ?? defaultSleep,
      signal: this.abort.signal,
      clock: this.clock,
      monotonic: this.monotonic,
      backoff: this.opts.backoff,
      authBackoff: this.opts.authBackoff,
    })
    this.gate = new RequestGate({
      source: deps.source,
      requestBudget: opts.requestBudget,
      status: deps.status,
      logger: deps.logger,
      clock: this.clock,
      apiClock: this.apiClock,
      waits: this.waits,
      reporter: this.reporter,
      signal: this.abort.signal,
      saveRequests: async (apiRequests) => {
        await this.persist({ ...this.requireState(), apiRequests })
      },
    })
  }

  /** Loads the state (throws StateError when it is unusable) and starts the loop in the background. */
  async start(): Promise<void> {
    const { store, status, logger } = this.deps
    const saved = await store.load()
    const now = this.clock()
    if (saved) checkStateTimes(saved, now)
    this.state = saved ?? {
      version: STATE_VERSION,
      cursor: initialCursor(now, this.opts.startLookbackMs, this.opts.limits).toISOString(),
      exportedKeys: {},
    }
    this.freshCursor = saved === undefined
    this.startedMono = this.monotonic()
    this.gate.load(this.state.apiRequests ?? [])
    this.exported = UidKeyMap.fromBuckets(this.state.exportedKeys)
    status.setCursor(this.state.cursor)
    status.noEvents.restore(this.state.lastEventAt, this.state.noEventsAlerting === true)
    status.setGapSeconds(this.state.gapSeconds ?? 0)
    status.setApiRequestCounter((at) => this.gate.used(at))
    status.setRequestBudget(this.opts.requestBudget, undefined)
    logger.info(
      { cursor: this.state.cursor, resumed: saved !== undefined },
      saved ? 'resuming from the saved cursor' : 'no saved cursor: starting RECEIVER_START_LOOKBACK ago',
    )
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

  /** Resolves when the loop ends (after stop, or a crash, which rejects). */
  get done(): Promise<void> {
    return this.running ?? Promise.resolve()
  }

  private get signal(): AbortSignal {
    return this.abort.signal
  }

  private async loop(): Promise<void> {
    const { status, logger } = this.deps
    while (!this.signal.aborted) {
      if (!(await this.raiseNoEventsAlert())) break
      // Plan only once a request may go out: a window planned before a long budget wait would be stale.
      if (!(await this.gate.awaitBudget())) break
      // Windows are planned by the API's clock, not ours (see ApiClock): asking past its present is a 400 or a loss.
      const now = this.apiClock.now()
      this.followApiClock(now)
      const state = this.requireState()
      const plan = planNextWindow(
        Date.parse(state.cursor),
        now - this.sizer.behindMs(),
        this.sizer.limits(),
        state.reaskFrom === undefined ? undefined : Date.parse(state.reaskFrom),
        this.opts.overlapMs,
      )
      if (plan.kind === 'wait') {
        status.setPhase('waiting')
        await this.waits.pause(plan.waitMs, { reason: 'next_window' })
        continue
      }
      if (plan.gapMs > 0) {
        logger.error(
          { gapSeconds: Math.round(plan.gapMs / 1000), from: state.cursor, to: plan.window.start.toISOString() },
          'the cursor is older than the SIEM API serves (7 days): events created in this span can no longer be fetched and are lost; counted in /status gapSeconds',
        )
      }
      status.setPhase(plan.catchingUp ? 'catching_up' : 'polling')
      const outcome = await this.processWindow(plan.window, plan.gapMs, plan.reaskPendingFrom)
      if (outcome === 'stopped' || this.signal.aborted) break
      if (outcome === 'replan') continue
      if (outcome === 'bad-window') {
        this.sizer.rejectedWindow()
        status.setPhase('backing_off')
        await this.waits.pause(backoffDelay(this.sizer.rejected - 1, this.opts.backoff), { reason: 'backoff', what: 'fetch' })
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

  /**
   * One window end to end (see runWindow), then the commit: the cursor moves only once every record was
   * acknowledged or refused for good and the new state is on disk. A failure mid-way retries the window; records
   * acknowledged by an earlier attempt are not sent again.
   */
  private async processWindow(window: TimeWindow, gapMs: number, reaskPendingFrom: number | undefined): Promise<'done' | 'short' | 'stopped' | 'bad-window' | 'replan'> {
    const { status, logger } = this.deps
    const started = this.clock()
    const done: Acknowledged = new UidKeyMap()
    let attempt: WindowAttempt | undefined
    // The poll cadence counts from a window's first attempt: retries do not push the next poll back.
    this.lastPollMono = this.monotonic()
    const run = {
      source: this.gate,
      exportRecords: (records: LogRecordParts[]) => this.reporter.exported(this.deps.sink, records),
      batchSize: this.opts.exportBatchSize,
      concurrency: this.deps.sink.maxConcurrency ?? 1,
      mapping: this.opts.mapping,
      exported: this.exported,
      logger,
      clock: this.clock,
      progress: () => status.progress(this.monotonic(), this.clock()),
      ...(this.deps.onExported ? { onExported: this.deps.onExported } : {}),
    }
    try {
      attempt = await this.waits.retry('fetch', () => runWindow(run, window, this.signal, done), (err) => err instanceof SiemBadRequestError || err instanceof BudgetExhaustedError)
      if (attempt === undefined) await this.keepAcknowledged(window, done)
    } catch (err) {
      if (err instanceof BudgetExhaustedError) return 'replan'
      if (!(err instanceof SiemBadRequestError)) throw err
      logger.error(
        { err: errorInfo(err), apiMessage: err.apiMessage, window: { start: window.start.toISOString(), end: window.end.toISOString() } },
        'the SIEM API rejected the window; asking again with a smaller, younger window',
      )
      return 'bad-window'
    }
    if (attempt === undefined) return 'stopped'
    const { counts, fresh, summary } = attempt

    const outcome = tally(fresh, done)
    const exportedCount = sum(outcome.exported)
    const rejectedCount = sum(outcome.rejected)
    if (exportedCount > 0 && !(await this.clearNoEventsAlert())) return 'stopped'

    // The API's data may end before what was asked (queryEndTime), and the API's present bounds it anyway: the
    // cursor never moves past either, and the rest of the window is asked again from there.
    const settledEnd = answeredThrough(window, summary.queryEndTime, this.apiClock.now(), this.opts.limits)
    if (settledEnd < window.end.getTime()) {
      logger.warn(
        { window: { start: window.start.toISOString(), end: window.end.toISOString() }, queryEndTime: summary.queryEndTime ?? null, through: new Date(settledEnd).toISOString() },
        'the SIEM API answered the window only in part (queryEndTime, or its clock is behind the window end): the cursor stops there and the rest is asked again',
      )
    }
    const now = this.clock()
    const previous = this.requireState()
    const { state: next, exported } = nextState({
      state: previous,
      window,
      settledEnd,
      queriedAt: this.gate.queriedAt,
      reaskPendingFrom,
      gapMs,
      exported: this.exported,
      fresh,
      exportedCount,
      overlapMs: this.opts.overlapMs,
      limits: this.opts.limits,
      now,
      apiRequests: this.gate.snapshot(now),
    })
    const saved = await this.waits.retry('state', () => this.persist(next))
    if (saved === undefined) return 'stopped'
    if (Date.parse(next.cursor) > Date.parse(previous.cursor)) this.freshCursor = false
    status.progress(this.monotonic(), this.clock())
    this.exported = exported
    status.setCursor(next.cursor)
    status.setLastEventAt(next.lastEventAt)
    status.setGapSeconds(next.gapSeconds ?? 0)
    const adapted = this.sizer.observe({ spanMs: window.end.getTime() - window.start.getTime(), events: summary.events, bytes: summary.bytes })
    if (adapted !== undefined) logger.info({ events: summary.events, bytes: summary.bytes, maxWindowMinutes: adapted / 60_000 }, 'window length adapted to the traffic')
    for (const type of EVENT_TYPES) {
      status.count(type, { ...counts[type], exported: outcome.exported[type], rejected: outcome.rejected[type] })
    }
    logger.info(
      {
        window: { start: window.start.toISOString(), end: window.end.toISOString() },
        received: summary.events,
        exported: exportedCount,
        rejected: rejectedCount,
        duplicates: EVENT_TYPES.reduce((n, t) => n + counts[t].duplicates, 0),
        malformed: EVENT_TYPES.reduce((n, t) => n + counts[t].malformed, 0),
        bytes: summary.bytes,
        durationMs: this.clock() - started,
        cursor: next.cursor,
      },
      'window done',
    )
    return settledEnd < window.end.getTime() ? 'short' : 'done'
  }

  /**
   * Checks the cursor against the API's clock, once an answer told it. A fresh cursor (no window committed yet) that
   * the API's clock puts in the future was set by a clock running ahead: it starts RECEIVER_START_LOOKBACK before the
   * API's now instead. A committed cursor ahead of the API's now claims windows that have not happened (a state file
   * written with a wrong clock): it moves back to the API's present, which skips nothing that exists yet, and says
   * so. Warns when this machine's clock is off the API's by more than a minute.
   */
  private followApiClock(apiNow: number): void {
    const { status, logger } = this.deps
    const skew = this.apiClock.skewMs()
    status.setClockSkew(skew)
    if (skew !== undefined && Math.abs(skew) > MAX_STATE_CLOCK_SKEW_MS && (this.warnedSkewMs === undefined || Math.abs(skew - this.warnedSkewMs) > MAX_STATE_CLOCK_SKEW_MS)) {
      this.warnedSkewMs = skew
      logger.warn(
        { clockSkewSeconds: Math.round(skew / 1000) },
        `this machine's clock is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ahead of' : 'behind'} the SIEM API's (its Date header): windows are planned by the API's clock; fix the clock (NTP)`,
      )
    }
    const state = this.requireState()
    if (skew === undefined) return
    // A fresh start looks back from when it started, by the API's clock.
    const startedAt = apiNow - (this.monotonic() - this.startedMono)
    const moved = cursorForApiClock(state, apiNow, this.freshCursor ? { startedAt, lookbackMs: this.opts.startLookbackMs } : undefined, this.opts.limits)
    if (!moved) return
    const to = Date.parse(moved.cursor)
    if (this.freshCursor) {
      logger.warn({ from: state.cursor, to: new Date(to).toISOString() }, 'the start cursor was set by a clock ahead of the SIEM API\'s: starting RECEIVER_START_LOOKBACK before the API\'s now instead')
    } else {
      logger.error(
        { cursor: state.cursor, apiNow: new Date(apiNow).toISOString(), to: new Date(to).toISOString() },
        'the cursor is ahead of the SIEM API\'s clock: it was saved by a receiver whose clock ran ahead. Moving it back to the API\'s present (nothing after it exists yet); events that run skipped before its cursor cannot be known: check the backend around that time',
      )
    }
    this.state = moved
    status.setCursor(moved.cursor)
  }

  /**
   * Stopped mid-window (SIGTERM on a rollout): the cursor stays, but the keys the collector already acknowledged
   * are saved, so the restarted receiver asks the window again and sends only what was not delivered.
   */
  private async keepAcknowledged(window: TimeWindow, done: Acknowledged): Promise<void> {
    if (done.size === 0) return
    const state = this.requireState()
    const exported = withAcknowledged(this.exported, window, done)
    try {
      await this.persist({ ...state, exportedKeys: exported.toBuckets(), apiRequests: this.gate.snapshot(this.clock()) })
      this.exported = exported
      this.deps.logger.info({ records: done.size }, 'stopping mid-window: the records the collector acknowledged are saved and will not be sent again')
    } catch (err) {
      this.deps.logger.warn({ err: errorInfo(err) }, 'stopping mid-window: could not save the acknowledged records; they will be sent again after the restart')
    }
  }

  /**
   * Raises the no-events alert once per silence (NoEventsAlert decides): an OpenTelemetry record into the same OTLP
   * stream (so the backend's alerting fires), acknowledged, then remembered in the state file so a restart does not
   * raise it again. Returns false when stopped.
   */
  private async raiseNoEventsAlert(): Promise<boolean> {
    const alert = this.deps.status.noEvents
    const record = alert.toRaise(this.clock())
    if (!record) return true
    this.deps.logger.warn(
      { thresholdSeconds: alert.thresholdMs / 1000, lastEventAt: alert.lastEventAt ?? null, silentSeconds: Math.floor((this.clock() - alert.silentSince()) / 1000) },
      'no events exported for longer than RECEIVER_NO_EVENTS_ALERT_AFTER: raising the no-events alert',
    )
    if ((await this.waits.retry('export', () => this.reporter.exported(this.deps.sink, [record]))) === undefined) return false
    if ((await this.waits.retry('state', () => this.persist({ ...this.requireState(), noEventsAlerting: true }))) === undefined) return false
    alert.markRaised()
    return true
  }

  /** Events flow again after a raised alert: one INFO record saying so, before the window that ends the silence is committed. */
  private async clearNoEventsAlert(): Promise<boolean> {
    const alert = this.deps.status.noEvents
    const record = alert.toClear(this.clock())
    if (!record) return true
    this.deps.logger.info({ lastEventAt: alert.lastEventAt ?? null }, 'events are flowing again: clearing the no-events alert')
    if ((await this.waits.retry('export', () => this.reporter.exported(this.deps.sink, [record]))) === undefined) return false
    alert.markCleared()
    return true
  }

  /** Saves the state; the receiver's only durable write. */
  private async persist(next: ReceiverState): Promise<true> {
    await this.deps.store.save(next)
    this.deps.status.setStateDirOk(true)
    this.state = next
    return true
  }



  private requireState(): ReceiverState {
    if (!this.state) throw new Error('Poller.start() was not called')
    return this.state
  }
}

/**
 * The poll loop: window → fetch → map → drop already-exported → export (acknowledged) → commit the cursor.
 *
 * The cursor moves only after the collector acknowledged every record of the window and the new state is on
 * disk. Every failure is retried with backoff in place, so a long outage never makes the loop poll ahead:
 * memory holds at most one window.
 */
import type { Logger } from 'pino'
import { noEventsRecord } from './alerts/no-events.js'
import { AUTH_BACKOFF, DEFAULT_BACKOFF, backoffDelay, sleep as defaultSleep } from './backoff.js'
import type { BackoffPolicy } from './backoff.js'
import { ExportError, ReceiverError, SiemApiError, SiemAuthError, SiemBadRequestError, SiemThrottledError, StateError } from './errors.js'
import { mapEvent } from './mapping/index.js'
import type { HrTime, LogRecordParts, MappedRecord, MappingOptions } from './mapping/types.js'
import { ApiClock, monotonicNow } from './siem/api-clock.js'
import { EVENT_TYPES } from './siem/types.js'
import type { StreamOptions } from './siem/client.js'
import type { EventType, JsonValue, SiemResponse, TimeWindow } from './siem/types.js'
import { API_LIMITS, adaptWindowMs, initialCursor, nextReaskFrom, planNextWindow, repairedLimits } from './siem/windows.js'
import type { WindowLimits, WindowTargets } from './siem/windows.js'
import { MAX_STATE_CLOCK_SKEW_MS, RequestBudget, STATE_VERSION, UidKeyMap, checkStateTimes, parseStrictUtc } from './state/index.js'
import type { ReceiverState, StateStore } from './state/index.js'
import type { LoopWait, ReceiverStatus } from './status.js'

/** What the poller needs from the SIEM client. */
export interface WindowFetcher {
  /** With `stream`, events are handed over in batches while the body arrives (see SiemClient). */
  fetchWindow(window: TimeWindow, signal?: AbortSignal, stream?: StreamOptions): Promise<{ response: SiemResponse; status: number; bytes: number; events?: number }>
}

/** Records the collector refused for good (by index into what was sent), so they are counted, not retried forever. */
export interface ExportOutcome {
  /** OTLP requests the collector acknowledged, and refused as data. */
  batches?: number
  rejectedBatches?: number
  /** Request body bytes sent in the acknowledged requests (the pipeline's report says; a test double need not). */
  bytes?: number
  rejected?: ReadonlyArray<{ index: number; reason: string }>
  /**
   * OTLP partial success: the collector took the request [start, end) but dropped `rejected` of its records without
   * saying which. Counted against the first records of the range, so totals are right and per-type counts approximate.
   */
  partialRejections?: ReadonlyArray<{ start: number; end: number; rejected: number; message: string }>
}

/**
 * What the poller needs from the export pipeline: resolves once the collector acknowledged or permanently refused
 * every record; throws a retryable error otherwise.
 */
export interface RecordSink {
  exportRecords(records: LogRecordParts[]): Promise<ExportOutcome | void>
}

/** What the poller reports to /metrics besides what ReceiverStatus holds. */
export interface PollerMetrics {
  observeApiRequest(outcome: 'ok' | 'error', statusCode: number | undefined, seconds: number, bytes?: number): void
  observeExport(outcome: 'ok' | 'error' | 'rejected', batches: number, seconds?: number, bytes?: number): void
}

export interface PollerOptions {
  pollIntervalMs: number
  startLookbackMs: number
  /** Every poll asks again this far behind the last query, for events the API indexes late. */
  overlapMs: number
  /** SIEM API requests allowed per rolling 24 h. */
  requestBudget: number
  /** Records per export call while a window streams in (the pipeline splits them into OTLP requests). Default 128. */
  exportBatchSize?: number
  /** Export calls in flight at once while a window streams in. Default 2. */
  exportConcurrency?: number
  /** Past these, later windows shrink (see adaptWindowMs). Default 200,000 events / 256 MiB. */
  windowTargets?: WindowTargets
  mapping: MappingOptions
  limits?: WindowLimits
  backoff?: BackoffPolicy
  authBackoff?: BackoffPolicy
}

export interface PollerDeps {
  fetcher: WindowFetcher
  sink: RecordSink
  store: StateStore
  status: ReceiverStatus
  logger: Logger
  /** The wall clock (epoch ms): request budget, state and status times. */
  clock?: () => number
  /** A clock that never jumps (ms), for waits and liveness; `monotonicNow` by default. */
  monotonic?: () => number
  /** The SIEM API's now, which windows are planned by (fed by the SIEM client's Date headers); from `clock` by default. */
  apiClock?: ApiClock
  /** `sleep` must measure `ms` on the monotonic clock (setTimeout does). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  /** Request and export timings for /metrics. */
  metrics?: PollerMetrics
  /** Called with the records of each acknowledged window (the demo prints them). */
  onExported?: (records: readonly MappedRecord[]) => void
}

/** Retries used up the request budget: wait for it, then plan a fresh window. */
class BudgetExhausted extends Error {}


const hrNow = (ms: number): HrTime => [Math.floor(ms / 1000), (ms % 1000) * 1e6]

const errorInfo = (err: unknown): { code: string; message: string } =>
  err instanceof ReceiverError ? { code: err.code, message: err.message } : { code: 'PSR_ERR_INTERNAL', message: String(err) }

export class Poller {
  private readonly opts: Required<PollerOptions>
  private readonly deps: PollerDeps
  private readonly clock: () => number
  private readonly monotonic: () => number
  private readonly apiClock: ApiClock
  /** Monotonic time the last window was first asked for: once caught up, the next is due a poll interval later. */
  private lastPollMono: number | undefined
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>
  private readonly abort = new AbortController()
  private running: Promise<void> | undefined
  private state: ReceiverState | undefined
  private budget = new RequestBudget(Infinity)
  /** The state's exportedKeys, decoded: the uids a poll must not export again. Replaced at each commit. */
  private exported = new UidKeyMap()
  /** Consecutive 400s from the API: each one shrinks the next window (see repairedLimits). */
  private badWindows = 0
  /** The longest window for now: shorter after very big windows, back to the API's maximum as traffic drops. */
  private adaptiveMaxMs: number | undefined
  /** No window committed yet in this state: the cursor is only where RECEIVER_START_LOOKBACK put it. */
  private freshCursor = false
  private startedMono = 0
  /** The clock skew last warned about (ms), so the warning is not repeated every poll. */
  private warnedSkewMs: number | undefined

  constructor(opts: PollerOptions, deps: PollerDeps) {
    this.opts = {
      limits: API_LIMITS,
      exportBatchSize: 128,
      exportConcurrency: 2,
      windowTargets: { maxEvents: 200_000, maxBytes: 256 * 1024 * 1024 },
      backoff: DEFAULT_BACKOFF,
      authBackoff: AUTH_BACKOFF,
      ...opts,
    }
    this.deps = deps
    this.clock = deps.clock ?? Date.now
    this.monotonic = deps.monotonic ?? monotonicNow
    this.apiClock = deps.apiClock ?? new ApiClock(this.clock, this.monotonic)
    this.sleep = deps.sleep ?? defaultSleep
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
    this.budget = new RequestBudget(this.opts.requestBudget, this.state.apiRequests ?? [])
    this.exported = UidKeyMap.fromBuckets(this.state.exportedKeys)
    status.setCursor(this.state.cursor)
    status.setLastEventAt(this.state.lastEventAt)
    status.setGapSeconds(this.state.gapSeconds ?? 0)
    status.setApiRequestCounter((at) => this.budget.used(at))
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
      if (!(await this.awaitBudget())) break
      // Windows are planned by the API's clock, not ours (see ApiClock): asking past its present is a 400 or a loss.
      const now = this.apiClock.now()
      this.followApiClock(now)
      const state = this.requireState()
      const repaired = repairedLimits(this.opts.limits, this.badWindows)
      const limits = { ...repaired, maxWindowMs: Math.min(repaired.maxWindowMs, this.adaptiveMaxMs ?? repaired.maxWindowMs) }
      // After a 400, also stay a little behind the API's clock in case our estimate of it runs ahead.
      const plan = planNextWindow(
        Date.parse(state.cursor),
        now - this.badWindows * this.opts.limits.granularityMs,
        limits,
        state.reaskFrom === undefined ? undefined : Date.parse(state.reaskFrom),
        this.opts.overlapMs,
      )
      if (plan.kind === 'wait') {
        status.setPhase('waiting')
        await this.pause(plan.waitMs, { reason: 'next_window' })
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
        this.badWindows = Math.min(this.badWindows + 1, 8)
        status.setPhase('backing_off')
        await this.pause(backoffDelay(this.badWindows - 1, this.opts.backoff), { reason: 'backoff', what: 'fetch' })
        continue
      }
      this.badWindows = 0
      if (!plan.catchingUp || outcome === 'short') {
        // Caught up (or the API has no more yet): the next request is due one poll interval after this one went out.
        // Measured on the monotonic clock, so a wall clock jump neither stretches nor skips the wait.
        const wait = (this.lastPollMono ?? this.monotonic()) + this.opts.pollIntervalMs - this.monotonic()
        status.setPhase('waiting')
        if (wait > 0) await this.pause(wait, { reason: 'poll_interval' })
      }
    }
  }

  /**
   * One window end to end: events are mapped and exported in batches while the response streams in, so memory
   * holds a few batches, not the window. The cursor moves only once every batch was acknowledged. A failure mid-way
   * retries the window; records acknowledged by an earlier attempt are not sent again.
   */
  private async processWindow(window: TimeWindow, gapMs: number, reaskPendingFrom: number | undefined): Promise<'done' | 'short' | 'stopped' | 'bad-window' | 'replan'> {
    const { status, logger } = this.deps
    const started = this.clock()
    const state = this.requireState()
    const done: Acknowledged = new UidKeyMap()
    let attempt: WindowAttempt | undefined
    // The poll cadence counts from a window's first attempt: retries do not push the next poll back.
    this.lastPollMono = this.monotonic()
    try {
      attempt = await this.retry('fetch', () => this.streamWindow(window, done), (err) => err instanceof SiemBadRequestError || err instanceof BudgetExhausted)
      if (attempt === undefined) await this.keepAcknowledged(window, done)
    } catch (err) {
      if (err instanceof BudgetExhausted) return 'replan'
      if (!(err instanceof SiemBadRequestError)) throw err
      logger.error(
        { err: errorInfo(err), apiMessage: err.apiMessage, window: { start: window.start.toISOString(), end: window.end.toISOString() } },
        'the SIEM API rejected the window; asking again with a smaller, younger window',
      )
      return 'bad-window'
    }
    if (attempt === undefined) return 'stopped'
    const { counts, fresh, fetched } = attempt

    const outcome = { exported: zeroByType(), rejected: zeroByType() }
    fresh.forEach((_type, key) => {
      const ack = done.getKey(key)
      if (ack !== undefined) outcome[ack & REJECTED ? 'rejected' : 'exported'][EVENT_TYPES[ack & TYPE_MASK]!]++
    })
    const exportedCount = EVENT_TYPES.reduce((n, t) => n + outcome.exported[t], 0)
    const rejectedCount = EVENT_TYPES.reduce((n, t) => n + outcome.rejected[t], 0)
    if (exportedCount > 0 && state.noEventsAlerting && !(await this.clearNoEventsAlert(state))) return 'stopped'

    const windowEnd = window.end.getTime()
    // The API's data may end before what was asked (queryEndTime), and the API's present bounds it anyway: the
    // cursor never moves past either, and the rest of the window is asked again from there.
    const settledEnd = this.answeredThrough(window, fetched.queryEndTime)
    const short = settledEnd < windowEnd
    if (short) {
      logger.warn(
        { window: { start: window.start.toISOString(), end: window.end.toISOString() }, queryEndTime: fetched.queryEndTime ?? null, through: new Date(settledEnd).toISOString() },
        'the SIEM API answered the window only in part (queryEndTime, or its clock is behind the window end): the cursor stops there and the rest is asked again',
      )
    }
    const answered = { start: window.start, end: new Date(Math.max(settledEnd, window.start.getTime())) }
    const reaskFrom =
      settledEnd <= window.start.getTime()
        ? Math.min(state.reaskFrom === undefined ? Date.parse(state.cursor) : Date.parse(state.reaskFrom), Date.parse(state.cursor))
        : nextReaskFrom(answered, fetched.queriedAt, this.opts.overlapMs, this.opts.limits, reaskPendingFrom)
    // Keys that can no longer be re-reported go; this window's come in, filed under the requested end (their events
    // were created no later than that), so no later window that can hold them outlives them. Refused records are
    // remembered too: re-sending them on the next overlap would only be refused again.
    const exported = this.exported.filter((end) => end >= reaskFrom)
    fresh.forEach((_type, key) => exported.setKey(key, Math.max(windowEnd, exported.getKey(key) ?? 0)))
    const cursorMs = Math.max(Date.parse(state.cursor), settledEnd)
    const gapSeconds = (state.gapSeconds ?? 0) + Math.round(gapMs / 1000)
    const now = this.clock()
    const lastEventAt = exportedCount > 0 ? new Date(now).toISOString() : state.lastEventAt
    const latest = this.requireState()
    const next: ReceiverState = {
      version: STATE_VERSION,
      cursor: new Date(cursorMs).toISOString(),
      exportedKeys: exported.toBuckets(),
      reaskFrom: new Date(reaskFrom).toISOString(),
      apiRequests: this.budget.snapshot(now),
      ...(gapSeconds > 0 ? { gapSeconds } : {}),
      ...(lastEventAt ? { lastEventAt } : {}),
      ...(latest.noEventsAlerting && exportedCount === 0 ? { noEventsAlerting: true } : {}),
    }
    const saved = await this.retry('state', () => this.persist(next))
    if (saved === undefined) return 'stopped'
    if (cursorMs > Date.parse(state.cursor)) this.freshCursor = false
    status.progress(this.monotonic(), this.clock())
    this.exported = exported
    status.setCursor(next.cursor)
    status.setLastEventAt(next.lastEventAt)
    status.setGapSeconds(gapSeconds)
    const spanMs = window.end.getTime() - window.start.getTime()
    const adapted = adaptWindowMs(this.adaptiveMaxMs ?? this.opts.limits.maxWindowMs, { spanMs, events: fetched.received, bytes: fetched.bytes }, this.opts.windowTargets, this.opts.limits)
    if (adapted !== (this.adaptiveMaxMs ?? this.opts.limits.maxWindowMs)) {
      logger.info({ events: fetched.received, bytes: fetched.bytes, maxWindowMinutes: adapted / 60_000 }, 'window length adapted to the traffic')
    }
    this.adaptiveMaxMs = adapted
    for (const type of EVENT_TYPES) {
      status.count(type, { ...counts[type], exported: outcome.exported[type], rejected: outcome.rejected[type] })
    }
    logger.info(
      {
        window: { start: window.start.toISOString(), end: window.end.toISOString() },
        received: fetched.received,
        exported: exportedCount,
        rejected: rejectedCount,
        duplicates: EVENT_TYPES.reduce((n, t) => n + counts[t].duplicates, 0),
        malformed: EVENT_TYPES.reduce((n, t) => n + counts[t].malformed, 0),
        bytes: fetched.bytes,
        durationMs: this.clock() - started,
        cursor: next.cursor,
      },
      'window done',
    )
    return short ? 'short' : 'done'
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
    const cursor = Date.parse(state.cursor)
    if (skew === undefined || cursor <= apiNow + MAX_STATE_CLOCK_SKEW_MS) return
    const g = this.opts.limits.granularityMs
    // A fresh start looks back from when it started, by the API's clock.
    const startedAt = apiNow - (this.monotonic() - this.startedMono)
    const to = this.freshCursor ? initialCursor(startedAt, this.opts.startLookbackMs, this.opts.limits).getTime() : Math.floor(apiNow / g) * g
    const reask = state.reaskFrom === undefined ? undefined : Math.min(Date.parse(state.reaskFrom), to)
    if (this.freshCursor) {
      logger.warn({ from: state.cursor, to: new Date(to).toISOString() }, 'the start cursor was set by a clock ahead of the SIEM API\'s: starting RECEIVER_START_LOOKBACK before the API\'s now instead')
    } else {
      logger.error(
        { cursor: state.cursor, apiNow: new Date(apiNow).toISOString(), to: new Date(to).toISOString() },
        'the cursor is ahead of the SIEM API\'s clock: it was saved by a receiver whose clock ran ahead. Moving it back to the API\'s present (nothing after it exists yet); events that run skipped before its cursor cannot be known: check the backend around that time',
      )
    }
    this.state = { ...state, cursor: new Date(to).toISOString(), ...(reask === undefined ? {} : { reaskFrom: new Date(reask).toISOString() }) }
    status.setCursor(this.state.cursor)
  }

  /**
   * Where the answer to `window` ends for the cursor: its end, or earlier when the API said its data ends sooner
   * (`queryEndTime`, minute-floored: the API rounds bounds to the minute) or its present (ApiClock) is before it.
   */
  private answeredThrough(window: TimeWindow, queryEndTime: string | undefined): number {
    const g = this.opts.limits.granularityMs
    let end = Math.min(window.end.getTime(), Math.floor(this.apiClock.now() / g) * g)
    const said = parseStrictUtc(queryEndTime)
    if (said !== undefined) end = Math.min(end, Math.floor(said / g) * g)
    return end
  }

  /**
   * Stopped mid-window (SIGTERM on a rollout): the cursor stays, but the keys the collector already acknowledged
   * are saved, so the restarted receiver asks the window again and sends only what was not delivered.
   */
  private async keepAcknowledged(window: TimeWindow, done: Acknowledged): Promise<void> {
    if (done.size === 0) return
    const state = this.requireState()
    const exported = this.exported.filter(() => true)
    done.forEach((_v, key) => exported.setKey(key, Math.max(window.end.getTime(), exported.getKey(key) ?? 0)))
    try {
      await this.persist({ ...state, exportedKeys: exported.toBuckets(), apiRequests: this.budget.snapshot(this.clock()) })
      this.exported = exported
      this.deps.logger.info({ records: done.size }, 'stopping mid-window: the records the collector acknowledged are saved and will not be sent again')
    } catch (err) {
      this.deps.logger.warn({ err: errorInfo(err) }, 'stopping mid-window: could not save the acknowledged records; they will be sent again after the restart')
    }
  }

  /** One attempt at a window: fetch it streaming, map, drop known keys, export in bounded concurrent batches. */
  private async streamWindow(window: TimeWindow, done: Acknowledged): Promise<WindowAttempt> {
    const fresh = new UidKeyMap()
    const counts = {} as Record<EventType, { received: number; malformed: number; duplicates: number; truncated: number }>
    for (const type of EVENT_TYPES) counts[type] = { received: 0, malformed: 0, duplicates: 0, truncated: 0 }
    const batchSize = this.opts.exportBatchSize
    let buffer: MappedRecord[] = []
    const inflight = new Set<Promise<void>>()
    let failure: { err: unknown } | undefined
    const flush = async (): Promise<void> => {
      if (buffer.length > 0) {
        const batch = buffer
        buffer = []
        const sending: Promise<void> = this.exportBatch(batch, done).catch((err: unknown) => {
          failure ??= { err }
        })
        inflight.add(sending)
        void sending.then(() => inflight.delete(sending))
      }
      while (inflight.size >= this.opts.exportConcurrency && !failure) await Promise.race(inflight)
      if (failure) throw failure.err
    }
    const onEvents = async (events: Record<EventType, JsonValue[]>): Promise<void> => {
      this.deps.status.progress(this.monotonic(), this.clock())
      const observed = hrNow(this.clock())
      for (const type of EVENT_TYPES) {
        const c = counts[type]
        for (const event of events[type]) {
          const record = mapEvent(event, type, this.opts.mapping, observed)
          c.received++
          c.truncated += record.truncated ?? 0
          if (record.malformed.length > 0) {
            c.malformed++
            this.deps.logger.warn({ eventType: type, uid: record.uid, reasons: record.malformed }, 'malformed event: exported as received, counted')
          }
          // Re-reported: in the overlap, or the boundary instant both neighbouring windows include (END is inclusive).
          if (this.exported.has(record.uid) || fresh.has(record.uid)) {
            c.duplicates++
            continue
          }
          fresh.set(record.uid, EVENT_TYPES.indexOf(type))
          if (done.has(record.uid)) continue // acknowledged by an earlier attempt at this window
          buffer.push(record)
          if (buffer.length >= batchSize) await flush()
        }
      }
    }
    try {
      const fetched = await this.fetch(window, { onEvents, batchEvents: batchSize })
      await flush()
      await Promise.all(inflight)
      if (failure) throw failure.err
      return { fetched, fresh, counts }
    } catch (err) {
      // Never leave exports of this attempt running into the next one.
      await Promise.all(inflight)
      throw err
    }
  }

  /** Exports one batch and records, per key, that the collector took it or refused it for good. */
  private async exportBatch(batch: MappedRecord[], done: Acknowledged): Promise<void> {
    const outcome = await this.export(batch)
    const rejected = [
      ...(outcome.rejected ?? []),
      ...(outcome.partialRejections ?? []).flatMap((p) =>
        Array.from({ length: Math.min(p.rejected, p.end - p.start) }, (_, i) => ({ index: p.start + i, reason: `partial success: ${p.message}` })),
      ),
    ]
    const refused = new Set(rejected.map((r) => r.index))
    batch.forEach((r, i) => done.set(r.uid, EVENT_TYPES.indexOf(r.eventType) | (refused.has(i) ? REJECTED : 0)))
    if (rejected.length > 0) this.logRejections(rejected)
    const accepted = refused.size === 0 ? batch : batch.filter((_, i) => !refused.has(i))
    if (accepted.length > 0) this.deps.onExported?.(accepted)
  }

  private logRejections(rejected: ReadonlyArray<{ index: number; reason: string }>): void {
    const reasons = new Map<string, number>()
    for (const { reason } of rejected) reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
    for (const [reason, n] of reasons) {
      this.deps.logger.error({ records: n, reason }, 'the collector permanently rejected records: not retried, counted in /status totals.rejected')
    }
  }

  /**
   * Raises the no-events alert once: an OpenTelemetry record into the same OTLP stream (so the backend's alerting
   * fires), acknowledged, then remembered in the state file so a restart does not raise it again.
   * Returns false when stopped.
   */
  private async raiseNoEventsAlert(): Promise<boolean> {
    const { status, logger } = this.deps
    const now = this.clock()
    const state = this.requireState()
    if (state.noEventsAlerting || !status.noEventsAlerting(now)) return true
    const { noEvents } = status.snapshot(now)
    const record = noEventsRecord('raised', {
      now,
      thresholdMs: noEvents.thresholdSeconds * 1000,
      lastEventAt: noEvents.lastEventAt ?? undefined,
      silentSinceMs: now - noEvents.silentSeconds * 1000,
    })
    logger.warn(
      { thresholdSeconds: noEvents.thresholdSeconds, lastEventAt: noEvents.lastEventAt, silentSeconds: noEvents.silentSeconds },
      'no events exported for longer than RECEIVER_NO_EVENTS_ALERT_AFTER: raising the no-events alert',
    )
    if ((await this.retry('export', () => this.export([record]))) === undefined) return false
    return (await this.retry('state', () => this.persist({ ...this.requireState(), noEventsAlerting: true }))) !== undefined
  }

  /** Events flow again: one INFO record saying so, before the window that ends the silence is committed. */
  private async clearNoEventsAlert(previous: ReceiverState): Promise<boolean> {
    const now = this.clock()
    const record = noEventsRecord('cleared', {
      now,
      thresholdMs: this.deps.status.noEventsAlertAfterMs,
      lastEventAt: previous.lastEventAt,
      silentSinceMs: previous.lastEventAt ? Date.parse(previous.lastEventAt) : this.deps.status.startedAt,
    })
    this.deps.logger.info({ lastEventAt: previous.lastEventAt }, 'events are flowing again: clearing the no-events alert')
    return (await this.retry('export', () => this.export([record]))) !== undefined
  }

  /** Saves the state; the receiver's only durable write. */
  private async persist(next: ReceiverState): Promise<true> {
    await this.deps.store.save(next)
    this.deps.status.setStateDirOk(true)
    this.state = next
    return true
  }

  /** Waits until the request budget allows one more request (false: stopped while waiting). */
  private async awaitBudget(): Promise<boolean> {
    const { status, logger } = this.deps
    let allowedAt = this.budget.nextAllowedAt(this.clock())
    if (allowedAt <= this.clock()) return true
    logger.warn(
      { budget: this.opts.requestBudget, resumeAt: new Date(allowedAt).toISOString() },
      'the SIEM API request budget (PROOFPOINT_REQUEST_BUDGET per 24 h) is used up: waiting for the oldest request to age out',
    )
    while (allowedAt > this.clock() && !this.signal.aborted) {
      status.setPhase('budget_wait')
      status.setRequestBudget(this.opts.requestBudget, allowedAt)
      // The budget is kept in wall-clock times (they are saved across restarts); wake at least every minute to
      // look again, so a wall clock jump is noticed.
      await this.pause(Math.min(allowedAt - this.clock(), 60_000), { reason: 'budget' })
      allowedAt = this.budget.nextAllowedAt(this.clock())
    }
    status.setRequestBudget(this.opts.requestBudget, undefined)
    return !this.signal.aborted
  }

  private async fetch(window: TimeWindow, stream: StreamOptions): Promise<FetchOutcome> {
    const { status } = this.deps
    if (this.budget.nextAllowedAt(this.clock()) > this.clock()) throw new BudgetExhausted()
    // Count the request durably before it goes out: a crash-restart loop must not get a fresh budget.
    const requestedAt = this.clock()
    this.budget.record(requestedAt)
    await this.persist({ ...this.requireState(), apiRequests: this.budget.snapshot(requestedAt) })
    // What the request settles is a matter of the API's clock, not ours (see nextReaskFrom).
    const queriedAt = this.apiClock.now()
    const started = performance.now()
    const seconds = (): number => (performance.now() - started) / 1000
    try {
      const result = await this.deps.fetcher.fetchWindow(window, this.signal, stream)
      status.progress(this.monotonic(), this.clock())
      const { status: httpStatus, bytes } = result
      // A fetcher that does not stream (a test double) returns the events instead: hand them over the same way.
      const unstreamed = EVENT_TYPES.reduce((n, t) => n + result.response.events[t].length, 0)
      if (unstreamed > 0) await stream.onEvents(result.response.events)
      this.deps.metrics?.observeApiRequest('ok', httpStatus, seconds(), bytes)
      const received = result.events ?? unstreamed
      status.recordPoll({ at: this.clock(), outcome: 'ok', httpStatus, events: received })
      status.setAuthFailing(false)
      return { bytes, received, queriedAt, ...(result.response.queryEndTime === undefined ? {} : { queryEndTime: result.response.queryEndTime }) }
    } catch (err) {
      // An export failing while the window streams in is the export's failure, reported as such.
      if (this.signal.aborted || err instanceof ExportError) throw err
      // The API answered (a 400, a 401, a 5xx): the loop is working, the API is not. No answer is no progress.
      if (err instanceof SiemApiError && err.status !== undefined) status.progress(this.monotonic(), this.clock())
      this.deps.metrics?.observeApiRequest('error', err instanceof SiemApiError ? err.status : undefined, seconds())
      status.recordPoll({
        at: this.clock(),
        outcome: 'error',
        ...(err instanceof SiemApiError && err.status !== undefined ? { httpStatus: err.status } : {}),
        events: 0,
        error: errorInfo(err),
      })
      status.setAuthFailing(err instanceof SiemAuthError)
      throw err
    }
  }

  private async export(records: LogRecordParts[]): Promise<ExportOutcome> {
    const { status } = this.deps
    const started = performance.now()
    try {
      const outcome = (await this.deps.sink.exportRecords(records)) ?? {}
      status.progress(this.monotonic(), this.clock())
      status.recordExport({ at: this.clock(), outcome: 'ok', records: records.length })
      this.deps.metrics?.observeExport('ok', outcome.batches ?? 1, (performance.now() - started) / 1000, outcome.bytes)
      if (outcome.rejectedBatches) this.deps.metrics?.observeExport('rejected', outcome.rejectedBatches)
      return outcome
    } catch (err) {
      this.deps.metrics?.observeExport('error', 1, (performance.now() - started) / 1000)
      status.recordExport({
        at: this.clock(),
        outcome: 'error',
        records: records.length,
        error: { ...errorInfo(err), retryable: err instanceof ExportError ? err.retryable : true },
      })
      throw err
    }
  }

  /** Runs `op` until it succeeds or the poller stops (→ undefined), backing off between tries. */
  private async retry<T>(what: 'fetch' | 'export' | 'state', op: () => Promise<T>, giveUp?: (err: unknown) => boolean): Promise<T | undefined> {
    const { status, logger } = this.deps
    for (let attempt = 0; !this.signal.aborted; attempt++) {
      try {
        return await op()
      } catch (err) {
        if (this.signal.aborted) return undefined
        if (giveUp?.(err)) throw err
        if (err instanceof StateError) status.setStateDirOk(false, err.message)
        const policy = err instanceof SiemAuthError ? this.opts.authBackoff : this.opts.backoff
        const retryAfter = err instanceof SiemThrottledError || err instanceof ExportError ? err.retryAfterMs : undefined
        const delay = backoffDelay(attempt, policy, retryAfter)
        const level = attempt === 0 && !(err instanceof SiemAuthError) ? 'warn' : 'error'
        // A window streams in and exports as it goes, and persists its request count first: name the side that failed.
        const failed = err instanceof ExportError ? 'export' : err instanceof StateError ? 'state' : what
        const capped = retryAfter !== undefined && retryAfter > delay
        logger[level](
          { err: errorInfo(err), attempt: attempt + 1, retryInMs: delay, what: failed, ...(retryAfter === undefined ? {} : { serverRetryAfterMs: retryAfter }) },
          capped
            ? `${failed} failed; the server asked to retry after ${Math.ceil(retryAfter / 1000)} s, waiting ${Math.ceil(delay / 1000)} s (RECEIVER_RETRY_MAX_BACKOFF)`
            : `${failed} failed; retrying`,
        )
        status.setPhase('backing_off')
        await this.pause(delay, {
          reason: retryAfter === undefined ? 'backoff' : 'retry_after',
          what: failed,
          ...(retryAfter === undefined ? {} : { serverRetryAfterMs: retryAfter }),
        })
      }
    }
    return undefined
  }

  /**
   * Sleeps `ms` (measured on the monotonic clock: a wall clock jump neither stretches nor ends it), shown in
   * /status with its reason; the waits a failure or the budget imposes also hold /healthz up (ReceiverStatus).
   */
  private async pause(ms: number, why: Omit<LoopWait, 'untilMono' | 'untilWall'>): Promise<void> {
    if (this.signal.aborted) return
    this.deps.status.setWait({ ...why, untilMono: this.monotonic() + ms, untilWall: this.clock() + ms })
    try {
      await this.sleep(ms, this.signal)
    } finally {
      this.deps.status.setWait(undefined)
    }
  }

  private requireState(): ReceiverState {
    if (!this.state) throw new Error('Poller.start() was not called')
    return this.state
  }
}

/**
 * Per key of a window: acknowledged by the collector, or refused for good (REJECTED), with its type (index into
 * EVENT_TYPES, TYPE_MASK). Kept across attempts at the window.
 */
type Acknowledged = UidKeyMap
const TYPE_MASK = 3
const REJECTED = 4

interface FetchOutcome {
  bytes: number
  received: number
  /** When the request went out, by the API's clock. */
  queriedAt: number
  /** The API's `queryEndTime`: its data runs through this. */
  queryEndTime?: string
}

interface WindowAttempt {
  fetched: FetchOutcome
  /** Keys in this window not exported before it (each exported or refused by now), with their type's index. */
  fresh: UidKeyMap
  counts: Record<EventType, { received: number; malformed: number; duplicates: number; truncated: number }>
}

const zeroByType = (): Record<EventType, number> => ({ messagesDelivered: 0, messagesBlocked: 0, clicksPermitted: 0, clicksBlocked: 0 })

/**
 * The poll loop: window → fetch → map → drop already-exported → export (acknowledged) → commit the cursor.
 *
 * The cursor moves only after the collector acknowledged every record of the window and the new state is on
 * disk. Every failure is retried with backoff in place, so a long outage never makes the loop poll ahead:
 * memory holds at most one window.
 */
import type { Logger } from 'pino'
import { AUTH_BACKOFF, DEFAULT_BACKOFF, backoffDelay, sleep as defaultSleep } from './backoff.js'
import type { BackoffPolicy } from './backoff.js'
import { ExportError, ReceiverError, SiemApiError, SiemAuthError, SiemThrottledError, StateError } from './errors.js'
import { mapEvent } from './mapping/index.js'
import type { HrTime, MappedRecord, MappingOptions } from './mapping/types.js'
import { EVENT_TYPES } from './siem/types.js'
import type { EventType, SiemResponse, TimeWindow } from './siem/types.js'
import { API_LIMITS, initialCursor, planNextWindow } from './siem/windows.js'
import type { WindowLimits } from './siem/windows.js'
import { STATE_VERSION, pruneExportedKeys } from './state/index.js'
import type { ReceiverState, StateStore } from './state/index.js'
import type { ReceiverStatus } from './status.js'

/** What the poller needs from the SIEM client. */
export interface WindowFetcher {
  fetchWindow(window: TimeWindow, signal?: AbortSignal): Promise<{ response: SiemResponse; status: number; bytes: number }>
}

/** What the poller needs from the export pipeline: resolves only once the collector acknowledged every record. */
export interface RecordSink {
  exportRecords(records: MappedRecord[]): Promise<unknown>
}

export interface PollerOptions {
  pollIntervalMs: number
  startLookbackMs: number
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
  clock?: () => number
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  /** Called with the records of each acknowledged window (the demo prints them). */
  onExported?: (records: readonly MappedRecord[]) => void
}

/** Longest sleep without a heartbeat; far below the liveness limit. */
const HEARTBEAT_SLICE_MS = 15_000

const hrNow = (ms: number): HrTime => [Math.floor(ms / 1000), (ms % 1000) * 1e6]

const errorInfo = (err: unknown): { code: string; message: string } =>
  err instanceof ReceiverError ? { code: err.code, message: err.message } : { code: 'PSR_ERR_INTERNAL', message: String(err) }

export class Poller {
  private readonly opts: Required<PollerOptions>
  private readonly deps: PollerDeps
  private readonly clock: () => number
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>
  private readonly abort = new AbortController()
  private running: Promise<void> | undefined
  private state: ReceiverState | undefined

  constructor(opts: PollerOptions, deps: PollerDeps) {
    this.opts = {
      limits: API_LIMITS,
      backoff: DEFAULT_BACKOFF,
      authBackoff: AUTH_BACKOFF,
      ...opts,
    }
    this.deps = deps
    this.clock = deps.clock ?? Date.now
    this.sleep = deps.sleep ?? defaultSleep
  }

  /** Loads the state (throws StateError when it is unusable) and starts the loop in the background. */
  async start(): Promise<void> {
    const { store, status, logger } = this.deps
    const saved = await store.load()
    const now = this.clock()
    this.state = saved ?? {
      version: STATE_VERSION,
      cursor: initialCursor(now, this.opts.startLookbackMs, this.opts.limits).toISOString(),
      exportedKeys: {},
    }
    status.setCursor(this.state.cursor)
    status.setLastEventAt(this.state.lastEventAt)
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
      const now = this.clock()
      status.heartbeat(now)
      const state = this.requireState()
      const plan = planNextWindow(Date.parse(state.cursor), now, this.opts.limits)
      if (plan.kind === 'wait') {
        status.setPhase('waiting')
        await this.pause(plan.waitMs)
        continue
      }
      if (plan.gapMs > 0) {
        logger.error(
          { gapSeconds: Math.round(plan.gapMs / 1000), from: state.cursor, to: plan.window.start.toISOString() },
          'the cursor is older than the SIEM API serves (7 days): events in this span can no longer be fetched',
        )
      }
      status.setPhase(plan.catchingUp ? 'catching_up' : 'polling')
      const committed = await this.processWindow(plan.window)
      if (!committed || this.signal.aborted) break
      if (!plan.catchingUp) {
        // Caught up: the next window is due one poll interval after this one ended.
        const wait = plan.window.end.getTime() + this.opts.pollIntervalMs - this.clock()
        status.setPhase('waiting')
        if (wait > 0) await this.pause(wait)
      }
    }
  }

  /** One window end to end. Returns false when stopped before the cursor could move. */
  private async processWindow(window: TimeWindow): Promise<boolean> {
    const { status, logger } = this.deps
    const started = this.clock()
    const fetched = await this.retry('fetch', () => this.fetch(window))
    if (fetched === undefined) return false
    const observed = hrNow(this.clock())
    const state = this.requireState()
    const { fresh, counts } = this.mapAndDedup(fetched.response, observed, state.exportedKeys)
    for (const type of EVENT_TYPES) status.count(type, counts[type])

    if (fresh.length > 0) {
      const acked = await this.retry('export', () => this.export(fresh))
      if (acked === undefined) return false
    }

    const windowEnd = window.end.getTime()
    const exportedKeys = pruneExportedKeys(state.exportedKeys, window.start.getTime())
    for (const r of fresh) exportedKeys[r.uid] = windowEnd
    const next: ReceiverState = {
      version: STATE_VERSION,
      cursor: window.end.toISOString(),
      exportedKeys,
      ...(fresh.length > 0 ? { lastEventAt: new Date(this.clock()).toISOString() } : state.lastEventAt ? { lastEventAt: state.lastEventAt } : {}),
    }
    const saved = await this.retry('state', async () => {
      await this.deps.store.save(next)
      status.setStateDirOk(true)
      return true
    })
    if (saved === undefined) return false
    this.state = next
    status.setCursor(next.cursor)
    status.setLastEventAt(next.lastEventAt)
    for (const type of EVENT_TYPES) if (counts[type].fresh > 0) status.count(type, { exported: counts[type].fresh })
    this.deps.onExported?.(fresh)
    logger.info(
      {
        window: { start: window.start.toISOString(), end: window.end.toISOString() },
        received: fetched.received,
        exported: fresh.length,
        duplicates: fetched.received - fresh.length,
        malformed: EVENT_TYPES.reduce((n, t) => n + counts[t].malformed, 0),
        bytes: fetched.bytes,
        durationMs: this.clock() - started,
      },
      'window done',
    )
    return true
  }

  private async fetch(window: TimeWindow): Promise<{ response: SiemResponse; bytes: number; received: number }> {
    const { status } = this.deps
    try {
      const { response, status: httpStatus, bytes } = await this.deps.fetcher.fetchWindow(window, this.signal)
      status.recordApiRequest(this.clock())
      const received = EVENT_TYPES.reduce((n, t) => n + response.events[t].length, 0)
      status.recordPoll({ at: this.clock(), outcome: 'ok', httpStatus, events: received })
      status.setAuthFailing(false)
      return { response, bytes, received }
    } catch (err) {
      if (this.signal.aborted) throw err
      status.recordApiRequest(this.clock())
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

  private async export(records: MappedRecord[]): Promise<true> {
    const { status } = this.deps
    try {
      await this.deps.sink.exportRecords(records)
      status.recordExport({ at: this.clock(), outcome: 'ok', records: records.length })
      return true
    } catch (err) {
      status.recordExport({
        at: this.clock(),
        outcome: 'error',
        records: records.length,
        error: { ...errorInfo(err), retryable: err instanceof ExportError ? err.retryable : true },
      })
      throw err
    }
  }

  private mapAndDedup(
    response: SiemResponse,
    observed: HrTime,
    exported: Readonly<Record<string, number>>,
  ): { fresh: MappedRecord[]; counts: Record<EventType, { received: number; malformed: number; duplicates: number; fresh: number }> } {
    const fresh: MappedRecord[] = []
    const seen = new Set<string>()
    const counts = {} as Record<EventType, { received: number; malformed: number; duplicates: number; fresh: number }>
    for (const type of EVENT_TYPES) {
      const c = { received: 0, malformed: 0, duplicates: 0, fresh: 0 }
      for (const event of response.events[type]) {
        const record = mapEvent(event, type, this.opts.mapping, observed)
        c.received++
        if (record.malformed.length > 0) {
          c.malformed++
          this.deps.logger.warn({ eventType: type, uid: record.uid, reasons: record.malformed }, 'malformed event: exported as received, counted')
        }
        // The API returns the boundary instant in both neighbouring windows (END is inclusive).
        if (Object.hasOwn(exported, record.uid) || seen.has(record.uid)) {
          c.duplicates++
          continue
        }
        seen.add(record.uid)
        fresh.push(record)
        c.fresh++
      }
      counts[type] = c
    }
    return { fresh, counts }
  }

  /** Runs `op` until it succeeds or the poller stops (→ undefined), backing off between tries. */
  private async retry<T>(what: 'fetch' | 'export' | 'state', op: () => Promise<T>): Promise<T | undefined> {
    const { status, logger } = this.deps
    for (let attempt = 0; !this.signal.aborted; attempt++) {
      try {
        return await op()
      } catch (err) {
        if (this.signal.aborted) return undefined
        if (err instanceof StateError) status.setStateDirOk(false, err.message)
        const policy = err instanceof SiemAuthError ? this.opts.authBackoff : this.opts.backoff
        const retryAfter = err instanceof SiemThrottledError ? err.retryAfterMs : undefined
        const delay = backoffDelay(attempt, policy, retryAfter)
        const level = attempt === 0 && !(err instanceof SiemAuthError) ? 'warn' : 'error'
        logger[level]({ err: errorInfo(err), attempt: attempt + 1, retryInMs: delay, what }, `${what} failed; retrying`)
        status.setPhase('backing_off')
        await this.pause(delay)
      }
    }
    return undefined
  }

  /** Sleeps in slices, beating the heart between them, so a long backoff never looks like a stuck loop. */
  private async pause(ms: number): Promise<void> {
    const until = this.clock() + ms
    for (let left = ms; left > 0 && !this.signal.aborted; left = until - this.clock()) {
      this.deps.status.heartbeat(this.clock())
      await this.sleep(Math.min(left, HEARTBEAT_SLICE_MS), this.signal)
    }
  }

  private requireState(): ReceiverState {
    if (!this.state) throw new Error('Poller.start() was not called')
    return this.state
  }
}

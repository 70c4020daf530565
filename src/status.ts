import { NoEventsAlert } from './alerts/no-events.js'
import type { EventType } from './siem/types.js'

/**
 * What the receiver is doing, as `/status` shows it. The poller sets it with {@link ReceiverStatus.setPhase}.
 * - `starting`: state not loaded or no poll made yet
 * - `polling`: caught up; fetching and exporting the newest window
 * - `waiting`: caught up; sleeping until the next window is due (one poll interval)
 * - `catching_up`: the cursor is more than one window behind; walking windows back to back
 * - `backing_off`: the last SIEM API call or export failed; waiting before trying again
 * - `standby`: another receiver holds the lock on RECEIVER_STATE_DIR; this one waits to take over (no state loaded, no poll)
 * - `stopping`: shutdown started
 */
export const RECEIVER_PHASES = ['starting', 'standby', 'polling', 'waiting', 'catching_up', 'backing_off', 'budget_wait', 'stopping'] as const
export type ReceiverPhase = (typeof RECEIVER_PHASES)[number]

/** A liveness probe fails only when the loop has made no progress for this long, at least. */
export const MIN_LIVENESS_TIMEOUT_MS = 5 * 60_000
/** ... or for this many poll intervals, whichever is longer. */
export const LIVENESS_POLL_INTERVALS = 3

/**
 * Why the poll loop sleeps. Only the waits a failure or the request budget imposes (`budget`, `backoff`,
 * `retry_after`) hold liveness up past their end; the others are at most a poll interval or a minute, which the
 * liveness timeout already covers, so a loop that keeps waiting without ever asking the API is seen as stuck.
 */
export const WAIT_REASONS = ['poll_interval', 'next_window', 'budget', 'backoff', 'retry_after'] as const
export type WaitReason = (typeof WAIT_REASONS)[number]
const EXCUSED_WAITS: ReadonlySet<WaitReason> = new Set(['budget', 'backoff', 'retry_after'])

export interface LoopWait {
  reason: WaitReason
  /** For backoff and retry_after: the operation that failed. */
  what?: 'fetch' | 'export' | 'state'
  /** When the wait ends, on the monotonic clock (liveness) and on the wall clock (shown). */
  untilMono: number
  untilWall: number
  /** What the server asked for in Retry-After, when it did (the wait itself is capped by RECEIVER_RETRY_MAX_BACKOFF). */
  serverRetryAfterMs?: number
}

export interface ReceiverStatusOptions {
  /** Process start, epoch ms. The no-events clock starts here when no event was ever exported. */
  startedAt: number
  /** Process start on the monotonic clock that liveness is measured on (`progress`, `liveness`); default `startedAt`. */
  startedMono?: number
  /** RECEIVER_NO_EVENTS_ALERT_AFTER in ms. */
  noEventsAlertAfterMs: number
  /** RECEIVER_POLL_INTERVAL in ms; sets the liveness timeout. */
  pollIntervalMs: number
  /** The configured event types: `/status` shows a zero row for each from the start. */
  eventTypes: readonly EventType[]
  /** The receiver's version, shown in `/status`. */
  version: string
  /** RECEIVER_NO_EVENTS_FAILS_READINESS: the no-events alert also makes `/readyz` fail (default false). */
  noEventsFailsReadiness?: boolean
}

/** The error part of a poll or export outcome. Messages come from the error catalogue and never hold secrets. */
export interface StatusError {
  code: string
  message: string
}

export interface PollRecord {
  /** epoch ms the call finished */
  at: number
  outcome: 'ok' | 'error'
  /** HTTP status, when the API answered */
  httpStatus?: number
  /** events in the response */
  events: number
  error?: StatusError
}

export interface ExportRecord {
  /** epoch ms the export finished */
  at: number
  outcome: 'ok' | 'error'
  records: number
  /** Of an acknowledged export (the pipeline's report): attributes dropped over OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT. */
  droppedAttributes?: number
  /** Of an acknowledged export: requests split in halves because the collector found them too large. */
  splits?: number
  error?: StatusError & { retryable: boolean }
}

export interface TypeCounts {
  received: number
  exported: number
  malformed: number
  duplicates: number
  /** Permanently refused by the collector (a 4xx other than 429): logged and counted, not retried. */
  rejected: number
  /** Attribute values cut to OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT (the body keeps the whole event). */
  truncated: number
}

/** What the export pipeline counted in the exports the collector acknowledged (not per event type). */
export interface ExportCounts {
  /** Log record attributes dropped over OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT (the body keeps the whole event). */
  droppedAttributes: number
  /** OTLP requests split in halves because the collector found them too large (413, gRPC RESOURCE_EXHAUSTED). */
  exportSplits: number
}

/** The JSON of `GET /status`. Absent values are `null`, so every field is always there. */
export interface StatusSnapshot {
  version: string
  state: ReceiverPhase
  /** ISO */
  startedAt: string
  uptimeSeconds: number
  eventTypes: EventType[]
  /** ISO end of the last acknowledged window */
  cursor: string | null
  /** now − cursor in whole seconds (never negative); null before there is a cursor */
  lagSeconds: number | null
  lastPoll: { at: string; outcome: 'ok' | 'error'; httpStatus: number | null; events: number; error?: StatusError } | null
  /** ISO of the last poll that succeeded */
  lastSuccessfulPollAt: string | null
  lastExport: { at: string; outcome: 'ok' | 'error'; records: number; error?: StatusError & { retryable: boolean } } | null
  /** Counters since the process started; `byType` has one row per event type (the configured ones at least). */
  totals: TypeCounts & ExportCounts & { byType: Partial<Record<EventType, TypeCounts>> }
  noEvents: {
    alerting: boolean
    thresholdSeconds: number
    /** ISO time an event was last exported (kept across restarts), null if never */
    lastEventAt: string | null
    /** seconds since lastEventAt, or since the process started when no event was ever exported */
    silentSeconds: number
  }
  apiRequestsLast24h: number
  /** The SIEM API request budget (PROOFPOINT_REQUEST_BUDGET per rolling 24 h); `waitingUntil` is set while the receiver holds back. */
  requestBudget: { limit: number | null; waitingUntil: string | null }
  /** Seconds of events skipped because the cursor was older than the API serves (7 days), in total. */
  gapSeconds: number
  authFailing: boolean
  stateDir: { ok: boolean; reason: string | null }
  /** ISO time of the poll loop's last progress toward new data (a SIEM API answer, an acknowledged export, a commit) */
  lastHeartbeatAt: string
  /** What the poll loop is waiting for and until when; null while it works. */
  wait: { reason: WaitReason; what: string | null; until: string; serverRetryAfterSeconds: number | null } | null
  /** This machine's clock minus the SIEM API's (from its Date header), in whole seconds; null before the first answer. */
  clockSkewSeconds: number | null
}

export interface Readiness {
  ready: boolean
  /** Human sentences, one per problem; empty when ready. */
  reasons: string[]
}

export interface Liveness {
  alive: boolean
  reason?: string
}

/**
 * The receiver's live status: the poller writes it, the ops server reads it. Pure bookkeeping: no timers and no
 * I/O; every time comes in as epoch ms, so tests pass explicit clocks.
 */
export class ReceiverStatus {
  readonly startedAt: number
  /** The no-events rule: it decides; this shows it. */
  readonly noEvents: NoEventsAlert
  readonly pollIntervalMs: number
  readonly version: string
  private readonly noEventsFailsReadiness: boolean
  private readonly eventTypes: EventType[]
  private phase: ReceiverPhase = 'starting'
  private standbyReason: string | undefined
  private cursor: string | undefined
  private lastPoll: PollRecord | undefined
  private lastSuccessfulPollAt: number | undefined
  private lastExport: ExportRecord | undefined
  private lastSuccessfulExport: number | undefined
  private readonly exportCounts: ExportCounts = { droppedAttributes: 0, exportSplits: 0 }
  private readonly counts = new Map<EventType, TypeCounts>()
  private authFailing = false
  private stateDirOk = true
  private stateDirReason: string | undefined
  private lastProgressMono: number
  private lastProgressWall: number
  private wait: LoopWait | undefined
  private clockSkewMs: number | undefined
  private apiRequestCounter: (now: number) => number = () => 0
  private gapSeconds = 0
  private budgetLimit: number | undefined
  private budgetWaitingUntil: number | undefined

  constructor(opts: ReceiverStatusOptions) {
    this.startedAt = opts.startedAt
    this.noEvents = new NoEventsAlert(opts.noEventsAlertAfterMs, opts.startedAt)
    this.pollIntervalMs = opts.pollIntervalMs
    this.version = opts.version
    this.noEventsFailsReadiness = opts.noEventsFailsReadiness ?? false
    this.eventTypes = [...opts.eventTypes]
    this.lastProgressMono = opts.startedMono ?? opts.startedAt
    this.lastProgressWall = opts.startedAt
    for (const type of opts.eventTypes) this.counts.set(type, zeroCounts())
  }

  setPhase(phase: ReceiverPhase): void {
    this.phase = phase
  }

  /**
   * Standby behind another receiver's lock on RECEIVER_STATE_DIR, with the reason `/readyz` gives; undefined: over
   * (back to `starting`). A standby is alive (it does its job: waiting); its end counts as progress at `at`, so a
   * long standby does not make the liveness probe fail before the first poll.
   */
  setStandby(reason: string | undefined, at?: { mono: number; wall: number }): void {
    const wasStandby = this.phase === 'standby'
    this.standbyReason = reason
    if (reason !== undefined) this.phase = 'standby'
    else if (wasStandby) {
      this.phase = 'starting'
      if (at) this.progress(at.mono, at.wall)
    }
  }

  /** After each acknowledged window (and once at start from the saved state). */
  setCursor(iso: string): void {
    this.cursor = iso
  }

  /** When events were exported (and once at start from the saved state). */
  setLastEventAt(iso: string | undefined): void {
    this.noEvents.eventsExportedAt(iso)
  }

  recordPoll(p: PollRecord): void {
    this.lastPoll = { ...p, ...(p.error ? { error: { code: p.error.code, message: p.error.message } } : {}) }
    if (p.outcome === 'ok') this.lastSuccessfulPollAt = p.at
  }

  recordExport(e: ExportRecord): void {
    this.lastExport = { ...e, ...(e.error ? { error: { code: e.error.code, message: e.error.message, retryable: e.error.retryable } } : {}) }
    if (e.outcome === 'ok') this.lastSuccessfulExport = e.at
    this.exportCounts.droppedAttributes += e.droppedAttributes ?? 0
    this.exportCounts.exportSplits += e.splits ?? 0
  }

  /** epoch ms of the last export the collector acknowledged (recordExport with outcome ok); undefined before the first. */
  lastSuccessfulExportAt(): number | undefined {
    return this.lastSuccessfulExport
  }

  /** Adds to the counters of one event type. */
  count(type: EventType, c: Partial<TypeCounts>): void {
    let row = this.counts.get(type)
    if (row === undefined) {
      row = zeroCounts()
      this.counts.set(type, row)
    }
    row.received += c.received ?? 0
    row.exported += c.exported ?? 0
    row.malformed += c.malformed ?? 0
    row.duplicates += c.duplicates ?? 0
    row.rejected += c.rejected ?? 0
    row.truncated += c.truncated ?? 0
  }

  /** Total seconds lost to the API's 7-day limit (kept in the state file across restarts). */
  setGapSeconds(seconds: number): void {
    this.gapSeconds = seconds
  }

  /** The request budget: its limit, and until when the receiver waits for it (undefined: not waiting). */
  setRequestBudget(limit: number, waitingUntil: number | undefined): void {
    this.budgetLimit = limit
    this.budgetWaitingUntil = waitingUntil
  }

  setAuthFailing(failing: boolean): void {
    this.authFailing = failing
  }

  setStateDirOk(ok: boolean, reason?: string): void {
    this.stateDirOk = ok
    this.stateDirReason = ok ? undefined : reason
  }

  /**
   * The poll loop moved toward new data: the SIEM API answered (whatever it said), events were handed over, an
   * export was acknowledged, a window committed. `monoAt` on the monotonic clock; `wallAt` (epoch ms) for display.
   * Sleeping, planning and failing are not progress: see `setWait` for the waits that excuse its absence.
   */
  progress(monoAt: number, wallAt: number = monoAt): void {
    this.lastProgressMono = monoAt
    this.lastProgressWall = wallAt
  }

  /** The loop starts (a wait) or ends (undefined) a sleep. */
  setWait(wait: LoopWait | undefined): void {
    this.wait = wait
  }

  /** This machine's clock minus the SIEM API's, in ms (from ApiClock). */
  setClockSkew(ms: number | undefined): void {
    this.clockSkewMs = ms
  }

  /**
   * Where the 24-hour request count comes from: the request budget, which also knows the requests made before a
   * restart. One source of truth, read at each snapshot, so the count ages out between polls too.
   */
  setApiRequestCounter(count: (now: number) => number): void {
    this.apiRequestCounter = count
  }

  apiRequestsLast24h(now: number): number {
    return this.apiRequestCounter(now)
  }

  snapshot(now: number): StatusSnapshot {
    const byType: Partial<Record<EventType, TypeCounts>> = {}
    const totals = zeroCounts()
    for (const [type, row] of this.counts) {
      byType[type] = { ...row }
      totals.received += row.received
      totals.exported += row.exported
      totals.malformed += row.malformed
      totals.duplicates += row.duplicates
      totals.rejected += row.rejected
      totals.truncated += row.truncated
    }
    const cursorMs = this.cursor === undefined ? NaN : Date.parse(this.cursor)
    return {
      version: this.version,
      state: this.phase,
      startedAt: iso(this.startedAt),
      uptimeSeconds: Math.max(0, Math.floor((now - this.startedAt) / 1000)),
      eventTypes: [...this.eventTypes],
      cursor: this.cursor ?? null,
      lagSeconds: Number.isNaN(cursorMs) ? null : Math.max(0, Math.floor((now - cursorMs) / 1000)),
      lastPoll:
        this.lastPoll === undefined
          ? null
          : {
              at: iso(this.lastPoll.at),
              outcome: this.lastPoll.outcome,
              httpStatus: this.lastPoll.httpStatus ?? null,
              events: this.lastPoll.events,
              ...(this.lastPoll.error ? { error: { ...this.lastPoll.error } } : {}),
            },
      lastSuccessfulPollAt: this.lastSuccessfulPollAt === undefined ? null : iso(this.lastSuccessfulPollAt),
      lastExport:
        this.lastExport === undefined
          ? null
          : {
              at: iso(this.lastExport.at),
              outcome: this.lastExport.outcome,
              records: this.lastExport.records,
              ...(this.lastExport.error ? { error: { ...this.lastExport.error } } : {}),
            },
      totals: { ...totals, ...this.exportCounts, byType },
      noEvents: this.noEvents.view(now),
      apiRequestsLast24h: this.apiRequestsLast24h(now),
      requestBudget: {
        limit: this.budgetLimit ?? null,
        waitingUntil: this.budgetWaitingUntil === undefined ? null : iso(this.budgetWaitingUntil),
      },
      gapSeconds: this.gapSeconds,
      authFailing: this.authFailing,
      stateDir: { ok: this.stateDirOk, reason: this.stateDirReason ?? null },
      lastHeartbeatAt: iso(this.lastProgressWall),
      wait:
        this.wait === undefined
          ? null
          : {
              reason: this.wait.reason,
              what: this.wait.what ?? null,
              until: iso(this.wait.untilWall),
              serverRetryAfterSeconds: this.wait.serverRetryAfterMs === undefined ? null : Math.ceil(this.wait.serverRetryAfterMs / 1000),
            },
      clockSkewSeconds: this.clockSkewMs === undefined ? null : Math.round(this.clockSkewMs / 1000),
    }
  }

  /** `/readyz`: can this receiver be trusted to deliver right now? */
  readiness(now: number): Readiness {
    const reasons: string[] = []
    if (this.phase === 'standby') reasons.push(this.standbyReason ?? 'standby: another receiver holds the lock on RECEIVER_STATE_DIR')
    if (this.noEventsFailsReadiness && this.noEvents.alerting(now)) {
      reasons.push(
        `no events exported for ${Math.floor((now - this.noEvents.silentSince()) / 1000)} s (RECEIVER_NO_EVENTS_ALERT_AFTER, and RECEIVER_NO_EVENTS_FAILS_READINESS is true)`,
      )
    }
    if (this.phase === 'stopping') reasons.push('the receiver is shutting down')
    if (!this.stateDirOk) {
      reasons.push(`the state directory (RECEIVER_STATE_DIR) is not usable${this.stateDirReason ? `: ${this.stateDirReason}` : ''}`)
    }
    if (this.authFailing) {
      reasons.push('the SIEM API refuses the credentials: check PROOFPOINT_PRINCIPAL and PROOFPOINT_SECRET/PROOFPOINT_SECRET_FILE')
    }
    if (this.lastSuccessfulPollAt === undefined) reasons.push('no successful SIEM API call yet')
    if (this.lastPoll?.outcome === 'error') {
      reasons.push(`the last SIEM API call failed${describeError(this.lastPoll.error)}`)
    }
    if (this.lastExport?.outcome === 'error') {
      reasons.push(`the last export to the OTLP endpoint failed${describeError(this.lastExport.error)}`)
    }
    return { ready: reasons.length === 0, reasons }
  }

  /**
   * `/healthz`: is the poll loop making progress toward new data? `monoNow` on the monotonic clock of `progress`.
   * Fails when it made none for the liveness timeout, counted from the end of a wait a failure or the request
   * budget imposed (those are explained); never for a failing dependency as such, which `/readyz` reports.
   */
  liveness(monoNow: number): Liveness {
    if (this.phase === 'standby') return { alive: true }
    const timeoutMs = this.livenessTimeoutMs()
    const excused = this.wait !== undefined && EXCUSED_WAITS.has(this.wait.reason) ? this.wait.untilMono : -Infinity
    const deadline = Math.max(this.lastProgressMono, excused) + timeoutMs
    if (monoNow <= deadline) return { alive: true }
    const silentSeconds = Math.floor((monoNow - this.lastProgressMono) / 1000)
    return {
      alive: false,
      reason: `the poll loop has made no progress toward new data (no SIEM API answer, acknowledged export or commit) for ${silentSeconds} s (limit ${Math.round(timeoutMs / 1000)} s): it looks stuck`,
    }
  }

  /** max(3 × poll interval, 5 min) */
  livenessTimeoutMs(): number {
    return Math.max(LIVENESS_POLL_INTERVALS * this.pollIntervalMs, MIN_LIVENESS_TIMEOUT_MS)
  }
}

function zeroCounts(): TypeCounts {
  return { received: 0, exported: 0, malformed: 0, duplicates: 0, rejected: 0, truncated: 0 }
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}

function describeError(e: StatusError | undefined): string {
  return e === undefined ? '' : ` (${e.code}): ${e.message}`
}

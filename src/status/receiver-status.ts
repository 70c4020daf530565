import { NoEventsAlert } from '../alerts/no-events.js'
import type { EventType } from '../siem/types.js'
import { judgeLiveness, livenessTimeoutMs, type Liveness, type LoopWait } from './liveness.js'
import { addCounts, exportView, iso, pollView, waitView, zeroCounts } from './snapshot.js'
import { SweepStatus } from './sweeps.js'
import type { ExportCounts, ExportRecord, PollRecord, ReceiverPhase, StatusError, StatusSnapshot, TypeCounts, WorkersView } from './snapshot.js'

export interface ReceiverStatusOptions {
  /** Process start, epoch ms. The no-events clock starts here when no event was ever exported. */
  startedAt: number
  /** Process start on the monotonic clock that liveness is measured on (`progress`, `liveness`); default `startedAt`. */
  startedMono?: number
  noEventsAlertAfterMs: number
  pollIntervalMs: number
  /** The configured event types: `/status` shows a zero row for each from the start. */
  eventTypes: readonly EventType[]
  version: string
  /** The longest one SIEM API request or export attempt may take (their timeouts): liveness waits at least that long. */
  longestCallMs?: number
  /** RECEIVER_NO_EVENTS_FAILS_READINESS: the no-events alert also makes `/readyz` fail (default false). */
  noEventsFailsReadiness?: boolean
  /**
   * The monotonic clock of `startedMono`: the no-events silence is measured on it (see NoEventsAlert); unset, on the
   * wall clock each call passes.
   */
  monotonic?: () => number
  /** The SIEM API's now: `lagSeconds` is measured on it (the cursor is the API's time); unset, on the wall clock. */
  apiNow?: () => number
}

export interface Readiness {
  ready: boolean
  /** Human sentences, one per problem; empty when ready. */
  reasons: string[]
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
  private readonly longestCallMs: number
  readonly version: string
  /** The late-event sweeps: the poller sets the schedule and reports each sweep. */
  readonly sweeps = new SweepStatus()
  private readonly noEventsFailsReadiness: boolean
  private readonly eventTypes: EventType[]
  private phase: ReceiverPhase = 'starting'
  private standbyReason: string | undefined
  private cursor: string | undefined
  private lastPoll: PollRecord | undefined
  private lastSuccessfulPollAt: number | undefined
  /** When the SIEM API last answered 2xx with a body, read to its end or not (see recordApiAnswer). */
  private lastApiAnswerAt: number | undefined
  private lastExport: ExportRecord | undefined
  private lastSuccessfulExport: number | undefined
  private readonly exportCounts: ExportCounts = { droppedAttributes: 0, exportSplits: 0 }
  private readonly counts = new Map<EventType, TypeCounts>()
  private authFailing = false
  private windowFailure: { since: number; attempts: number; error: StatusError } | undefined
  private stateDirOk = true
  private stateDirReason: string | undefined
  private lastProgressMono: number
  private lastProgressWall: number
  private wait: LoopWait | undefined
  private clockSkewMs: number | undefined
  private readonly apiNow: (() => number) | undefined
  private apiRequestCounter: (now: number) => number = () => 0
  private workerView: () => WorkersView = () => ({ threads: 0, running: 0, restarts: 0 })
  private gapSeconds = 0
  private budgetLimit: number | undefined
  private budgetWaitingUntil: number | undefined

  constructor(opts: ReceiverStatusOptions) {
    this.startedAt = opts.startedAt
    this.noEvents = new NoEventsAlert(
      opts.noEventsAlertAfterMs,
      opts.startedAt,
      opts.monotonic === undefined ? undefined : { now: opts.monotonic, startedMono: opts.startedMono ?? opts.monotonic() },
    )
    this.apiNow = opts.apiNow
    this.pollIntervalMs = opts.pollIntervalMs
    this.longestCallMs = opts.longestCallMs ?? 0
    this.version = opts.version
    this.noEventsFailsReadiness = opts.noEventsFailsReadiness ?? false
    this.eventTypes = [...opts.eventTypes]
    this.lastProgressMono = opts.startedMono ?? opts.startedAt
    this.lastProgressWall = opts.startedAt
    for (const type of opts.eventTypes) this.counts.set(type, zeroCounts())
  }

  /** `stopping` is for good: a start or a poll loop still winding down after the stop request does not undo it. */
  setPhase(phase: ReceiverPhase): void {
    if (this.phase !== 'stopping') this.phase = phase
  }

  /**
   * Standby behind another receiver's lock on RECEIVER_STATE_DIR, with the reason `/readyz` gives; undefined ends it
   * (back to `starting`) as progress at `at`, so a long standby does not fail the liveness probe before the first poll.
   */
  setStandby(reason: string | undefined, at?: { mono: number; wall: number }): void {
    const wasStandby = this.phase === 'standby'
    this.standbyReason = reason
    if (this.phase === 'stopping') return
    if (reason !== undefined) this.phase = 'standby'
    else if (wasStandby) {
      this.phase = 'starting'
      if (at) this.progress(at.mono, at.wall)
    }
  }

  setCursor(iso: string): void {
    this.cursor = iso
  }

  setLastEventAt(iso: string | undefined): void {
    this.noEvents.eventsExportedAt(iso)
  }

  recordPoll(p: PollRecord): void {
    this.lastPoll = { ...p, ...(p.error ? { error: { code: p.error.code, message: p.error.message } } : {}) }
    if (p.outcome === 'ok') this.lastSuccessfulPollAt = this.lastApiAnswerAt = p.at
  }

  /**
   * The SIEM API answered 2xx and its first events came: credentials and API are fine. A body is read only as fast as
   * its records are exported, so while the collector fails no call completes, and readiness must not blame the API.
   */
  recordApiAnswer(at: number): void {
    this.lastApiAnswerAt = at
  }

  recordExport(e: ExportRecord): void {
    this.lastExport = { ...e, ...(e.error ? { error: { code: e.error.code, message: e.error.message, retryable: e.error.retryable } } : {}) }
    if (e.outcome === 'ok') this.lastSuccessfulExport = e.at
    this.exportCounts.droppedAttributes += e.droppedAttributes ?? 0
    this.exportCounts.exportSplits += e.splits ?? 0
  }

  lastSuccessfulExportAt(): number | undefined {
    return this.lastSuccessfulExport
  }

  count(type: EventType, c: Partial<TypeCounts>): void {
    let row = this.counts.get(type)
    if (row === undefined) this.counts.set(type, (row = zeroCounts()))
    addCounts(row, c)
  }

  /** Kept in the state file across restarts. */
  setGapSeconds(seconds: number): void {
    this.gapSeconds = seconds
  }

  /** `waitingUntil` undefined: not waiting for the budget. */
  setRequestBudget(limit: number, waitingUntil: number | undefined): void {
    this.budgetLimit = limit
    this.budgetWaitingUntil = waitingUntil
  }

  setAuthFailing(failing: boolean): void {
    this.authFailing = failing
  }

  /**
   * An attempt at the window failed for a reason no other field shows (not the SIEM API's answer, not an export, not
   * the state directory): `/readyz` fails until an attempt succeeds (`windowSucceeded`).
   */
  windowFailed(error: StatusError, at: number): void {
    const { code, message } = error
    this.windowFailure = { since: this.windowFailure?.since ?? at, attempts: (this.windowFailure?.attempts ?? 0) + 1, error: { code, message } }
  }

  windowSucceeded(): void {
    this.windowFailure = undefined
  }

  setStateDirOk(ok: boolean, reason?: string): void {
    this.stateDirOk = ok
    this.stateDirReason = ok ? undefined : reason
  }

  /**
   * The poll loop moved toward new data (any SIEM API answer, events handed over, an acknowledged export, a commit);
   * sleeping, planning and failing are not. `monoAt` on the monotonic clock, `wallAt` (epoch ms) for display.
   */
  progress(monoAt: number, wallAt: number = monoAt): void {
    this.lastProgressMono = monoAt
    this.lastProgressWall = wallAt
  }

  setWait(wait: LoopWait | undefined): void {
    this.wait = wait
  }

  /** This machine's clock minus the SIEM API's, in ms (from ApiClock). */
  setClockSkew(ms: number | undefined): void {
    this.clockSkewMs = ms
  }

  /** The worker threads (RECEIVER_WORKERS): the pool knows them. */
  setWorkers(view: () => WorkersView): void {
    this.workerView = view
  }

  /** The request budget's 24-hour count: it knows the requests made before a restart and ages out between polls. */
  setApiRequestCounter(count: (now: number) => number): void {
    this.apiRequestCounter = count
  }

  snapshot(now: number): StatusSnapshot {
    const byType: Partial<Record<EventType, TypeCounts>> = {}
    const totals = zeroCounts()
    for (const [type, row] of this.counts) {
      byType[type] = { ...row }
      addCounts(totals, row)
    }
    const cursorMs = this.cursor === undefined ? NaN : Date.parse(this.cursor)
    return {
      version: this.version,
      state: this.phase,
      startedAt: iso(this.startedAt),
      uptimeSeconds: Math.max(0, Math.floor((now - this.startedAt) / 1000)),
      eventTypes: [...this.eventTypes],
      cursor: this.cursor ?? null,
      lagSeconds: Number.isNaN(cursorMs) ? null : Math.max(0, Math.floor(((this.apiNow?.() ?? now) - cursorMs) / 1000)),
      lastPoll: this.lastPoll === undefined ? null : pollView(this.lastPoll),
      lastSuccessfulPollAt: this.lastSuccessfulPollAt === undefined ? null : iso(this.lastSuccessfulPollAt),
      lastApiAnswerAt: this.lastApiAnswerAt === undefined ? null : iso(this.lastApiAnswerAt),
      lastExport: this.lastExport === undefined ? null : exportView(this.lastExport),
      totals: { ...totals, ...this.exportCounts, byType },
      noEvents: this.noEvents.view(now),
      apiRequestsLast24h: this.apiRequestCounter(now),
      requestBudget: { limit: this.budgetLimit ?? null, waitingUntil: this.budgetWaitingUntil === undefined ? null : iso(this.budgetWaitingUntil) },
      gapSeconds: this.gapSeconds,
      sweeps: this.sweeps.view(now),
      workers: this.workerView(),
      authFailing: this.authFailing,
      windowFailure: this.windowFailure === undefined ? null : { since: iso(this.windowFailure.since), attempts: this.windowFailure.attempts, error: { ...this.windowFailure.error } },
      stateDir: { ok: this.stateDirOk, reason: this.stateDirReason ?? null },
      lastHeartbeatAt: iso(this.lastProgressWall),
      wait: this.wait === undefined ? null : waitView(this.wait),
      clockSkewSeconds: this.clockSkewMs === undefined ? null : Math.round(this.clockSkewMs / 1000),
    }
  }

  /** `/readyz`: can this receiver be trusted to deliver right now? */
  readiness(now: number): Readiness {
    const reasons: string[] = []
    if (this.phase === 'standby') reasons.push(this.standbyReason ?? 'standby: another receiver holds the lock on RECEIVER_STATE_DIR')
    if (this.noEventsFailsReadiness && this.noEvents.alerting(now)) {
      reasons.push(
        `no events exported for ${Math.floor(this.noEvents.silentMs(now) / 1000)} s (RECEIVER_NO_EVENTS_ALERT_AFTER, and RECEIVER_NO_EVENTS_FAILS_READINESS is true)`,
      )
    }
    if (this.phase === 'stopping') reasons.push('the receiver is shutting down')
    if (!this.stateDirOk) reasons.push(`the state directory (RECEIVER_STATE_DIR) is not usable${this.stateDirReason ? `: ${this.stateDirReason}` : ''}`)
    if (this.authFailing) reasons.push('the SIEM API refuses the credentials: check PROOFPOINT_PRINCIPAL and PROOFPOINT_SECRET/PROOFPOINT_SECRET_FILE')
    if (this.lastApiAnswerAt === undefined) reasons.push('no successful SIEM API call yet')
    if (this.lastPoll?.outcome === 'error') reasons.push(`the last SIEM API call failed${describeError(this.lastPoll.error)}`)
    if (this.lastExport?.outcome === 'error') reasons.push(`the last export to the OTLP endpoint failed${describeError(this.lastExport.error)}`)
    if (this.windowFailure !== undefined) {
      const { attempts, error } = this.windowFailure
      reasons.push(`the window in hand failed ${attempts} time${attempts === 1 ? '' : 's'} in a row${describeError(error)}`)
    }
    return { ready: reasons.length === 0, reasons }
  }

  /** `/healthz` (see judgeLiveness); `monoNow` on the monotonic clock of `progress`. A standby is alive: waiting is its job. */
  liveness(monoNow: number): Liveness {
    if (this.phase === 'standby') return { alive: true }
    return judgeLiveness(this.lastProgressMono, this.wait, this.livenessTimeoutMs(), monoNow)
  }

  livenessTimeoutMs(): number {
    return livenessTimeoutMs(this.pollIntervalMs, this.longestCallMs)
  }
}

function describeError(e: StatusError | undefined): string {
  return e === undefined ? '' : ` (${e.code}): ${e.message}`
}

import type { EventType } from '../siem/types.js'
import type { LoopWait, WaitReason } from './liveness.js'
import type { SweepView } from './sweeps.js'

/**
 * What the receiver is doing, as `/status` shows it; the poller sets it.
 * - `starting`: state not loaded or no poll made yet
 * - `standby`: another receiver holds the lock on RECEIVER_STATE_DIR; this one waits to take over (no state loaded, no poll)
 * - `polling`: caught up; fetching and exporting the newest window
 * - `waiting`: caught up; sleeping until the next window is due (one poll interval)
 * - `catching_up`: the cursor is more than one window behind; walking windows back to back
 * - `backing_off`: the last SIEM API call or export failed; waiting before trying again
 * - `budget_wait`: PROOFPOINT_REQUEST_BUDGET is used up; waiting for the oldest request to age out
 * - `stopping`: shutdown started
 */
export const RECEIVER_PHASES = ['starting', 'standby', 'polling', 'waiting', 'catching_up', 'backing_off', 'budget_wait', 'stopping'] as const
export type ReceiverPhase = (typeof RECEIVER_PHASES)[number]

/** Messages come from the error catalogue and never hold secrets. */
export interface StatusError {
  code: string
  message: string
}

export interface PollRecord {
  /** epoch ms the call finished */
  at: number
  outcome: 'ok' | 'error'
  /** when the API answered */
  httpStatus?: number
  events: number
  error?: StatusError
}

export interface ExportRecord {
  /** epoch ms the export finished */
  at: number
  outcome: 'ok' | 'error'
  records: number
  /** The pipeline's report of an acknowledged export (see ExportCounts). */
  droppedAttributes?: number
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
  /** Attribute values cut to OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT in acknowledged records (the body keeps the whole event). */
  truncated: number
}

/** Counted over the exports the collector acknowledged, not per event type. */
export interface ExportCounts {
  /** Over OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT (the body keeps the whole event). */
  droppedAttributes: number
  /** Requests split in halves because the collector found them too large (413, gRPC RESOURCE_EXHAUSTED). */
  exportSplits: number
}

/** The JSON of `GET /status`. Absent values are `null`, so every field is always there; times are ISO. */
/** RECEIVER_WORKERS: threads configured (0: the main thread maps), running now (started on first use), and died. */
export interface WorkersView {
  threads: number
  running: number
  restarts: number
}

export interface StatusSnapshot {
  version: string
  state: ReceiverPhase
  startedAt: string
  uptimeSeconds: number
  eventTypes: EventType[]
  /** end of the last acknowledged window */
  cursor: string | null
  /** now − cursor in whole seconds (never negative) */
  lagSeconds: number | null
  lastPoll: { at: string; outcome: 'ok' | 'error'; httpStatus: number | null; events: number; error?: StatusError } | null
  lastSuccessfulPollAt: string | null
  /** when the SIEM API last answered 2xx, its body read to the end or not (a failing export stops the reading) */
  lastApiAnswerAt: string | null
  lastExport: { at: string; outcome: 'ok' | 'error'; records: number; error?: StatusError & { retryable: boolean } } | null
  /** Counters since the process started; `byType` has one row per event type (the configured ones at least). */
  totals: TypeCounts & ExportCounts & { byType: Partial<Record<EventType, TypeCounts>> }
  noEvents: {
    alerting: boolean
    thresholdSeconds: number
    /** when an event was last exported (kept across restarts), null if never */
    lastEventAt: string | null
    /** since lastEventAt, or since the process started when no event was ever exported */
    silentSeconds: number
  }
  apiRequestsLast24h: number
  /** PROOFPOINT_REQUEST_BUDGET per rolling 24 h; `waitingUntil` is set while the receiver holds back. */
  requestBudget: { limit: number | null; waitingUntil: string | null }
  /** Seconds of events skipped because the cursor was older than the API serves (7 days), in total. */
  gapSeconds: number
  /** The late-event sweeps (RECEIVER_OVERLAP), youngest first; empty without an overlap. */
  sweeps: SweepView[]
  workers: WorkersView
  authFailing: boolean
  /**
   * The window in hand keeps failing for a reason that is neither the SIEM API's nor the collector's (a worker thread
   * dying or failing on it, say): since when, how many attempts, the last error. Null once an attempt succeeds.
   */
  windowFailure: { since: string; attempts: number; error: StatusError } | null
  stateDir: { ok: boolean; reason: string | null }
  /** the poll loop's last progress toward new data (a SIEM API answer, an acknowledged export, a commit) */
  lastHeartbeatAt: string
  /** What the poll loop is waiting for and until when; null while it works. */
  wait: { reason: WaitReason; what: string | null; until: string; serverRetryAfterSeconds: number | null } | null
  /** This machine's clock minus the SIEM API's (from its Date header), in whole seconds; null before the first answer. */
  clockSkewSeconds: number | null
}

export function zeroCounts(): TypeCounts {
  return { received: 0, exported: 0, malformed: 0, duplicates: 0, rejected: 0, truncated: 0 }
}

/** Adds `c` to every counter of `into` (a full row, from zeroCounts). */
export function addCounts(into: TypeCounts, c: Partial<TypeCounts>): void {
  for (const field of Object.keys(into) as (keyof TypeCounts)[]) into[field] += c[field] ?? 0
}

export const iso = (ms: number): string => new Date(ms).toISOString()

export function pollView(p: PollRecord): StatusSnapshot['lastPoll'] {
  return { at: iso(p.at), outcome: p.outcome, httpStatus: p.httpStatus ?? null, events: p.events, ...(p.error ? { error: { ...p.error } } : {}) }
}

export function exportView(e: ExportRecord): StatusSnapshot['lastExport'] {
  return { at: iso(e.at), outcome: e.outcome, records: e.records, ...(e.error ? { error: { ...e.error } } : {}) }
}

export function waitView(w: LoopWait): StatusSnapshot['wait'] {
  const retryAfterMs = w.serverRetryAfterMs
  return { reason: w.reason, what: w.what ?? null, until: iso(w.untilWall), serverRetryAfterSeconds: retryAfterMs === undefined ? null : Math.ceil(retryAfterMs / 1000) }
}

/** A liveness probe fails only when the loop has made no progress for this long, at least... */
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

export interface Liveness {
  alive: boolean
  reason?: string
}

/** A call may take its whole timeout before it answers (or fails, which is then progress or a backoff): and this. */
export const LIVENESS_CALL_MARGIN_MS = 60_000

/**
 * `longestCallMs`: the longest a single SIEM API request or export attempt may take before its first answer
 * (PROOFPOINT_REQUEST_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT): a slow but legitimate call must not fail the probe.
 */
export function livenessTimeoutMs(pollIntervalMs: number, longestCallMs = 0): number {
  return Math.max(LIVENESS_POLL_INTERVALS * pollIntervalMs, MIN_LIVENESS_TIMEOUT_MS, longestCallMs + LIVENESS_CALL_MARGIN_MS)
}

/**
 * Whether the poll loop is making progress toward new data, all times on the monotonic clock. It is dead after no
 * progress for the liveness timeout, counted from the end of a wait a failure or the request budget imposed (those
 * are explained); never for a failing dependency as such, which readiness reports.
 */
export function judgeLiveness(lastProgressMono: number, wait: LoopWait | undefined, timeoutMs: number, monoNow: number): Liveness {
  const excused = wait !== undefined && EXCUSED_WAITS.has(wait.reason) ? wait.untilMono : -Infinity
  if (monoNow <= Math.max(lastProgressMono, excused) + timeoutMs) return { alive: true }
  const silentSeconds = Math.floor((monoNow - lastProgressMono) / 1000)
  return {
    alive: false,
    reason: `the poll loop has made no progress toward new data (no SIEM API answer, acknowledged export or commit) for ${silentSeconds} s (limit ${Math.round(timeoutMs / 1000)} s): it looks stuck`,
  }
}

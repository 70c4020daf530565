/** Exponential backoff with full jitter (the AWS "full jitter" variant): spreads retries of many receivers apart. */
import { DEFAULT_RETRY_MAX_BACKOFF_MS } from './config/defaults.js'

export interface BackoffPolicy {
  initialMs: number
  maxMs: number
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: DEFAULT_RETRY_MAX_BACKOFF_MS }
/** Bad credentials do not fix themselves quickly; retrying fast only burns the request budget. */
export const AUTH_BACKOFF: BackoffPolicy = { initialMs: 30_000, maxMs: 10 * 60_000 }

/**
 * Delay before retry number `attempt` (0-based). A server's Retry-After wins when it asks for longer, but never past
 * `policy.maxMs` (RECEIVER_RETRY_MAX_BACKOFF, "the longest wait between retries"): a collector or proxy answering
 * `Retry-After: 3600` must not stall the receiver for an hour. `random` is injectable so tests can pin the jitter.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, retryAfterMs?: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30))
  const jittered = Math.round(ceiling / 2 + random() * (ceiling / 2))
  if (retryAfterMs === undefined || !(retryAfterMs >= 0)) return jittered
  return Math.min(policy.maxMs, Math.max(retryAfterMs, Math.min(jittered, policy.initialMs)))
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects: the caller checks `signal.aborted`). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** Exponential backoff with proportional jitter (the OpenTelemetry SDK exporters' policy). */
export interface JitteredBackoffPolicy {
  initialMs: number
  maxMs: number
  multiplier: number
  /** The delay varies by up to this share either way (0.2: ±20 %). */
  jitter: number
}

/**
 * Delay before retry number `step` (0-based): initialMs × multiplier^step, ± jitter of it, at most maxMs. Pure but
 * for `random`, which tests can pin.
 */
export function jitteredDelay(step: number, policy: JitteredBackoffPolicy, random: () => number = Math.random): number {
  const base = policy.initialMs * policy.multiplier ** Math.min(step, 64)
  return Math.max(0, Math.min(base * (1 + (random() * 2 - 1) * policy.jitter), policy.maxMs))
}

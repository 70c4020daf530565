/** The one retry delay of the receiver: the poll loop's and the OTLP exporters' (each with its own policy). */
import { DEFAULT_RETRY_MAX_BACKOFF_MS } from './config/defaults.js'

export interface BackoffPolicy {
  initialMs: number
  maxMs: number
  /** Growth per attempt; default 2. */
  multiplier?: number
  /**
   * The share of a step drawn at random and taken off it (default 0.5: between half and all of it), so many
   * receivers spread their retries apart. Only ever shorter: a step at the ceiling never overshoots it.
   */
  jitter?: number
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: DEFAULT_RETRY_MAX_BACKOFF_MS }
/** Bad credentials do not fix themselves quickly; retrying fast only burns the request budget. */
export const AUTH_BACKOFF: BackoffPolicy = { initialMs: 30_000, maxMs: 10 * 60_000 }

/**
 * Delay before retry number `attempt` (0-based), less its jitter. A server's Retry-After wins when it asks for longer,
 * but never past `policy.maxMs` (RECEIVER_RETRY_MAX_BACKOFF): a `Retry-After: 3600` must not stall the receiver an hour.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, retryAfterMs?: number, random: () => number = Math.random): number {
  const { initialMs, maxMs, multiplier = 2, jitter = 0.5 } = policy
  const ceiling = Math.min(maxMs, initialMs * multiplier ** Math.min(attempt, 64))
  const jittered = Math.round(ceiling * (1 - Math.min(1, jitter) * (1 - random())))
  if (retryAfterMs === undefined || !(retryAfterMs >= 0)) return jittered
  return Math.min(maxMs, Math.max(retryAfterMs, Math.min(jittered, initialMs)))
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

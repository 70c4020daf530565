/**
 * Every wait of the poll loop: a pause (one monotonic sleep, shown in /status with its reason) and retrying an
 * operation with backoff until it succeeds or the poller stops. The waits a failure or the budget imposes also hold
 * /healthz up (ReceiverStatus); the others do not.
 */
import type { Logger } from 'pino'
import { backoffDelay } from '../backoff.js'
import type { BackoffPolicy } from '../backoff.js'
import { ExportError, SiemApiError, SiemAuthError, SiemThrottledError, StateError, errorInfo } from '../errors.js'
import type { LoopWait, ReceiverStatus } from '../status/index.js'

export interface WaitsDeps {
  status: ReceiverStatus
  logger: Logger
  sleep: (ms: number, signal: AbortSignal) => Promise<void>
  signal: AbortSignal
  clock: () => number
  monotonic: () => number
  backoff: BackoffPolicy
  /** Bad credentials do not fix themselves quickly: a slower policy. */
  authBackoff: BackoffPolicy
}

export class Waits {
  constructor(private readonly deps: WaitsDeps) {}

  /** Sleeps `ms` (a wall clock jump neither stretches nor ends it), shown in /status with its reason. */
  async pause(ms: number, why: Omit<LoopWait, 'untilMono' | 'untilWall'>): Promise<void> {
    const { status, signal } = this.deps
    if (signal.aborted) return
    status.setWait({ ...why, untilMono: this.deps.monotonic() + ms, untilWall: this.deps.clock() + ms })
    try {
      await this.deps.sleep(ms, signal)
    } finally {
      status.setWait(undefined)
    }
  }

  /**
   * Runs `op` until it succeeds or the poller stops (→ undefined), backing off between tries (a server's Retry-After
   * honoured up to the backoff's ceiling); `giveUp` errors are thrown. The log names the side that failed by the
   * error's class (a window fetches and exports as it goes, and saves its request count first).
   */
  async retry<T>(what: 'fetch' | 'export' | 'state', op: () => Promise<T>, giveUp?: (err: unknown) => boolean): Promise<T | undefined> {
    const { status, logger, signal } = this.deps
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        const result = await op()
        if (what === 'fetch') status.windowSucceeded()
        return result
      } catch (err) {
        if (signal.aborted) return undefined
        if (giveUp?.(err)) throw err
        if (err instanceof StateError) status.setStateDirOk(false, err.message)
        // The SIEM API's failures show in lastPoll, the collector's in lastExport, the state directory's in stateDir:
        // anything else (a worker thread failing on the window) would leave /readyz and /status saying all is well.
        else if (what === 'fetch' && !(err instanceof SiemApiError || err instanceof ExportError)) status.windowFailed(errorInfo(err), this.deps.clock())
        const policy = err instanceof SiemAuthError ? this.deps.authBackoff : this.deps.backoff
        const retryAfter = err instanceof SiemThrottledError || err instanceof ExportError ? err.retryAfterMs : undefined
        const delay = backoffDelay(attempt, policy, retryAfter)
        const level = attempt === 0 && !(err instanceof SiemAuthError) ? 'warn' : 'error'
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
}

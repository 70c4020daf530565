/** Before each window: a cursor in the SIEM API's future moves (cursorForApiClock), and a clock off by over a minute is warned of. */
import type { ApiClock } from '../siem/api-clock.js'
import type { WindowLimits } from '../siem/windows.js'
import { MAX_STATE_CLOCK_SKEW_MS } from '../state/index.js'
import { cursorForApiClock } from './api-time.js'
import type { PollState } from './poll-state.js'
import type { PollerDeps } from './types.js'

interface ClockCheckDeps extends Pick<PollerDeps, 'status' | 'logger'> {
  apiClock: ApiClock
  state: PollState
  lookbackMs: number
  limits: WindowLimits
}

export class ClockCheck {
  /** The clock skew last warned about (ms), so the warning is not repeated every poll. */
  private warnedSkewMs: number | undefined

  constructor(private readonly deps: ClockCheckDeps) {}

  /** `startedAt`: when the poller started, by the API's clock (a fresh start looks back from there). */
  follow(apiNow: number, startedAt: number): void {
    const { status, logger, state } = this.deps
    const skew = this.deps.apiClock.skewMs()
    status.setClockSkew(skew)
    if (skew !== undefined && Math.abs(skew) > MAX_STATE_CLOCK_SKEW_MS && (this.warnedSkewMs === undefined || Math.abs(skew - this.warnedSkewMs) > MAX_STATE_CLOCK_SKEW_MS)) {
      this.warnedSkewMs = skew
      logger.warn(
        { clockSkewSeconds: Math.round(skew / 1000) },
        `this machine's clock is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ahead of' : 'behind'} the SIEM API's (its Date header): windows are planned by the API's clock; fix the clock (NTP)`,
      )
    }
    if (skew === undefined) return
    const cursor = state.current.cursor
    const moved = cursorForApiClock(state.current, apiNow, state.fresh ? { startedAt, lookbackMs: this.deps.lookbackMs } : undefined, this.deps.limits)
    if (!moved) return
    const to = moved.cursor
    if (state.fresh) {
      logger.warn({ from: cursor, to }, 'the start cursor was set by a clock ahead of the SIEM API\'s: starting RECEIVER_START_LOOKBACK before the API\'s now instead')
    } else {
      logger.error(
        { cursor, apiNow: new Date(apiNow).toISOString(), to },
        'the cursor is ahead of the SIEM API\'s clock: it was saved by a receiver whose clock ran ahead. Moving it back to the API\'s present (nothing after it exists yet); events that run skipped before its cursor cannot be known: check the backend around that time',
      )
    }
    state.moveCursor(moved)
  }
}

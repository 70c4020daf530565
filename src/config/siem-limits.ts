/**
 * The ranges the SIEM API's limits (src/siem/windows.ts) impose on the durations, and the start-up request budget
 * check. Durations are never negative: the parser has no sign.
 */
import { checkRequestBudget } from '../state/budget.js'
import { API_GRANULARITY_MS, API_MAX_AGE_MS, API_MAX_WINDOW_MS, API_MIN_WINDOW_MS } from '../siem/windows.js'
import { formatDuration } from './duration.js'
import type { ConfigVariable, RawConfig } from './schema.js'
import type { Report } from './sources.js'

/** Polling more often than the shortest window the API answers asks for nothing new. */
const MIN_POLL_INTERVAL_MS = API_MIN_WINDOW_MS
/** The API indexes events up to ~30 min late; the sweeps (siem/sweeps.ts) are planned and tested for under an hour. */
const MAX_OVERLAP_MS = API_MAX_WINDOW_MS - API_GRANULARITY_MS
/**
 * Durations that become a timer: Node's timers wait at most 2^31 − 1 ms (~24.8 days) and fire after 1 ms beyond
 * that, which would turn a long poll interval into a busy loop and a long timeout into an instant failure.
 */
export const MAX_TIMER_MS = 24 * 24 * 3600 * 1000
const TIMER_WHY = "Node's timers cannot wait longer than about 24.8 days"
/** Retrying more often than once a second gains nothing and burns the SIEM API's request budget. */
const MIN_RETRY_MAX_BACKOFF_MS = 1000

/** `valid(name)`: the setting passed the schema's own check, so its range is worth checking. */
export function checkSiemLimits(raw: RawConfig, valid: (name: ConfigVariable) => boolean, report: Report): void {
  const positive = (name: ConfigVariable, ms: number): void => {
    if (valid(name) && ms === 0) report(name, 'must be longer than 0s')
  }
  const atLeast = (name: ConfigVariable, ms: number, min: number, why: string): void => {
    if (valid(name) && ms < min) report(name, `${formatDuration(ms)} is less than ${formatDuration(min)}: ${why}`)
  }
  const atMost = (name: ConfigVariable, ms: number, max: number, why: string): void => {
    if (valid(name) && ms > max) report(name, `${formatDuration(ms)} is more than ${formatDuration(max)}: ${why}`)
  }
  atLeast('RECEIVER_POLL_INTERVAL', raw.RECEIVER_POLL_INTERVAL, MIN_POLL_INTERVAL_MS, 'the SIEM API answers windows of at least 30s')
  positive('RECEIVER_START_LOOKBACK', raw.RECEIVER_START_LOOKBACK)
  atMost('RECEIVER_START_LOOKBACK', raw.RECEIVER_START_LOOKBACK, API_MAX_AGE_MS, 'the SIEM API serves at most 7 days back')
  atMost('RECEIVER_OVERLAP', raw.RECEIVER_OVERLAP, MAX_OVERLAP_MS, 'the SIEM API indexes events up to about 30 minutes late; the late-event sweeps are planned for less than an hour')
  positive('RECEIVER_NO_EVENTS_ALERT_AFTER', raw.RECEIVER_NO_EVENTS_ALERT_AFTER)
  atLeast('RECEIVER_RETRY_MAX_BACKOFF', raw.RECEIVER_RETRY_MAX_BACKOFF, MIN_RETRY_MAX_BACKOFF_MS, 'retrying more often only burns the request budget')
  if (valid('RECEIVER_POLL_INTERVAL') && valid('PROOFPOINT_REQUEST_BUDGET') && raw.RECEIVER_POLL_INTERVAL >= MIN_POLL_INTERVAL_MS) {
    const problem = checkRequestBudget(raw.RECEIVER_POLL_INTERVAL, raw.PROOFPOINT_REQUEST_BUDGET, valid('RECEIVER_OVERLAP') ? raw.RECEIVER_OVERLAP : 0)
    if (problem) report('RECEIVER_POLL_INTERVAL', problem)
  }
  positive('PROOFPOINT_REQUEST_TIMEOUT', raw.PROOFPOINT_REQUEST_TIMEOUT)
  for (const name of ['RECEIVER_POLL_INTERVAL', 'RECEIVER_RETRY_MAX_BACKOFF', 'PROOFPOINT_REQUEST_TIMEOUT'] as const) atMost(name, raw[name], MAX_TIMER_MS, TIMER_WHY)
}

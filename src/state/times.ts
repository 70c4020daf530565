/** The times in the state file: strict ISO-8601 UTC; those ahead of the clock at load. */
import { StateError } from '../errors.js'
import type { ReceiverState } from './types.js'

/** `2026-11-27T10:00:00Z` or with a fraction: what the receiver writes, the only form it reads back. */
const STRICT_UTC_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/

/** Epoch ms of a strict ISO-8601 UTC time (a real calendar date), else undefined. `Date.parse` alone takes "1" or "Friday". */
export function parseStrictUtc(value: unknown): number | undefined {
  if (typeof value !== 'string' || !STRICT_UTC_RE.test(value)) return undefined
  const ms = Date.parse(value)
  if (Number.isNaN(ms)) return undefined
  // 2026-02-30 parses (to March 2): the text must name the date it parses to.
  return new Date(ms).toISOString().slice(0, 19) === value.slice(0, 19) ? ms : undefined
}

/** A saved time this far ahead of the clock is accepted: NTP corrected the clock a little between two runs. */
export const MAX_STATE_CLOCK_SKEW_MS = 60_000

/**
 * A state's times against this machine's clock (`nowMs`), at load. Nothing ahead is refused: the cursor follows the
 * SIEM API's clock (windows are planned by it), so a machine whose clock is behind the API's by minutes has a cursor
 * "ahead" of it; refusing made a restart a crash loop until the clock was fixed. What is ahead is said (warnings):
 * - the cursor, re-ask point and sweep cursors: the API answered through them, so its clock had reached them (the
 *   poller takes the cursor as a lower bound of the API's now until its first answer tells it; a cursor ahead of that
 *   answer, a file written elsewhere, moves back to the API's present, see cursorForApiClock);
 * - request times and lastEventAt, which are on the wall clock of the machine that saved them: brought back to now, so
 *   that the budget counts them for 24 h from now at most and the no-events alert is not silenced.
 * Refused (StateError, exit 78): a re-ask point after the cursor, which this receiver never writes.
 */
export function checkStateTimes(state: ReceiverState, nowMs: number): { state: ReceiverState; warnings: string[] } {
  if (state.reaskFrom !== undefined && Date.parse(state.reaskFrom) > Date.parse(state.cursor)) {
    throw new StateError(`the state file's reaskFrom ${state.reaskFrom} is after its cursor ${state.cursor}: it was not written by this receiver; restore it from a backup, or set reaskFrom to the cursor`)
  }
  const limit = nowMs + MAX_STATE_CLOCK_SKEW_MS
  const minutes = (ms: number): string => `${Math.round((ms - nowMs) / 60_000)} min`
  const warnings: string[] = []
  const cursor = Date.parse(state.cursor)
  if (cursor > limit) {
    warnings.push(
      `the cursor ${state.cursor} is ${minutes(cursor)} ahead of this machine's clock (${new Date(nowMs).toISOString()}): the SIEM API answered through it, so this clock is behind the API's (fix NTP); windows are planned by the API's clock`,
    )
  }
  let next = state
  if (state.lastEventAt !== undefined && Date.parse(state.lastEventAt) > limit) {
    warnings.push(`lastEventAt ${state.lastEventAt} is ${minutes(Date.parse(state.lastEventAt))} ahead of this machine's clock: taken as now`)
    next = { ...next, lastEventAt: new Date(nowMs).toISOString() }
  }
  // A loop, not Math.max(...list): a list of ~125,000 times (a large PROOFPOINT_REQUEST_BUDGET) overflows the stack.
  let ahead = 0
  let latest = -Infinity
  for (const at of state.apiRequests ?? []) {
    if (at > limit) ahead++
    if (at > latest) latest = at
  }
  if (ahead > 0) {
    warnings.push(`${ahead} request time${ahead === 1 ? '' : 's'} in apiRequests (the latest ${new Date(latest).toISOString()}, ${minutes(latest)} ahead of this machine's clock) taken as now: the budget counts them for the next 24 h`)
    next = { ...next, apiRequests: (state.apiRequests ?? []).map((at) => Math.min(at, nowMs)) }
  }
  return { state: next, warnings }
}

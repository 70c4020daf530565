/** The times in the state file: strict ISO-8601 UTC, and never ahead of the clock. */
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

const FIX =
  'the clock of this machine is behind (check NTP and restart), or the state file comes from a machine whose clock ran ahead. ' +
  'If this clock is right, stop the receiver and set "cursor" (and "reaskFrom") in state.json back to a time you know every event before was exported, ' +
  'or remove "apiRequests"/"lastEventAt"; events after the new cursor are exported again and a backend can drop repeats by log.record.uid'

/**
 * Refuses (StateError, exit 78) a state whose times lie ahead of `nowMs` beyond MAX_STATE_CLOCK_SKEW_MS: a future cursor
 * claims windows that have not happened, so the events created before it would never be fetched; future request
 * times hold the budget back for longer than a day; a future lastEventAt silences the no-events alert.
 */
export function checkStateTimes(state: ReceiverState, nowMs: number): void {
  const limit = nowMs + MAX_STATE_CLOCK_SKEW_MS
  const ahead: string[] = []
  const check = (name: string, iso: string | undefined): void => {
    const ms = iso === undefined ? undefined : Date.parse(iso)
    if (ms !== undefined && ms > limit) ahead.push(`${name} ${iso} is ${Math.round((ms - nowMs) / 60_000)} min ahead`)
  }
  check('cursor', state.cursor)
  check('reaskFrom', state.reaskFrom)
  for (const sweep of state.sweeps ?? []) check(`the ${sweep.ageSeconds} s sweep's through`, sweep.through)
  check('lastEventAt', state.lastEventAt)
  // A loop, not Math.max(...list): a list of ~125,000 times (a large PROOFPOINT_REQUEST_BUDGET) overflows the stack.
  let latestRequest = -Infinity
  for (const at of state.apiRequests ?? []) if (at > latestRequest) latestRequest = at
  if (latestRequest > limit) ahead.push(`a request time in apiRequests (${new Date(latestRequest).toISOString()}) is ${Math.round((latestRequest - nowMs) / 60_000)} min ahead`)
  if (ahead.length > 0) {
    throw new StateError(`the state file holds times ahead of this machine's clock (${new Date(nowMs).toISOString()}): ${ahead.join('; ')}. Not starting, so that no event is skipped: ${FIX}`)
  }
  if (state.reaskFrom !== undefined && Date.parse(state.reaskFrom) > Date.parse(state.cursor)) {
    throw new StateError(`the state file's reaskFrom ${state.reaskFrom} is after its cursor ${state.cursor}: it was not written by this receiver; restore it from a backup, or set reaskFrom to the cursor`)
  }
}

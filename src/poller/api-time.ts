/** The SIEM API's clock against the cursor, pure. */
import type { TimeWindow } from '../siem/types.js'
import { initialCursor } from '../siem/windows.js'
import type { WindowLimits } from '../siem/windows.js'
import { parseApiTime } from '../siem/api-clock.js'
import { MAX_STATE_CLOCK_SKEW_MS } from '../state/index.js'
import type { ReceiverState } from '../state/index.js'

/**
 * Where the answer to `window` ends for the cursor: its end, or earlier when the API said its data ends sooner
 * (`queryEndTime`, minute-floored: the API rounds bounds to the minute) or its present (`apiNow`) is before it.
 */
export function answeredThrough(window: TimeWindow, queryEndTime: string | undefined, apiNow: number, limits: WindowLimits): number {
  const g = limits.granularityMs
  let end = Math.min(window.end.getTime(), Math.floor(apiNow / g) * g)
  // Unreadable ones are refused with the answer (response-parser.ts): never read as "the API said nothing".
  const said = queryEndTime === undefined ? undefined : parseApiTime(queryEndTime)
  if (said !== undefined) end = Math.min(end, Math.floor(said / g) * g)
  return end
}

/**
 * The state with its cursor moved when the API's clock puts it in the future (beyond the allowed skew), else undefined.
 * A fresh cursor (no window committed yet) was set by a clock running ahead: the lookback starts from the API's time
 * of the start instead. A committed one (a state file written with a wrong clock) claims windows that have not
 * happened: it moves back to the API's present, which skips nothing that exists yet.
 */
export function cursorForApiClock(
  state: ReceiverState,
  apiNow: number,
  fresh: { startedAt: number; lookbackMs: number } | undefined,
  limits: WindowLimits,
): ReceiverState | undefined {
  if (Date.parse(state.cursor) <= apiNow + MAX_STATE_CLOCK_SKEW_MS) return undefined
  const g = limits.granularityMs
  const to = fresh ? initialCursor(fresh.startedAt, fresh.lookbackMs, limits).getTime() : Math.floor(apiNow / g) * g
  const reask = state.reaskFrom === undefined ? undefined : Math.min(Date.parse(state.reaskFrom), to)
  // The sweeps never run ahead of the cursor.
  const sweeps = state.sweeps?.map((s) => ({ ...s, through: new Date(Math.min(Date.parse(s.through), to)).toISOString() }))
  return {
    ...state,
    cursor: new Date(to).toISOString(),
    ...(reask === undefined ? {} : { reaskFrom: new Date(reask).toISOString() }),
    ...(sweeps === undefined ? {} : { sweeps }),
  }
}

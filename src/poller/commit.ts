/**
 * What a finished window changes, pure: how its keys ended (exported or refused) and the state to save (cursor, re-ask
 * point, keys not to export again, budget, gap, last event, alert flag). The poller saves it before it moves on.
 */
import { EVENT_TYPES } from '../siem/types.js'
import type { EventType, TimeWindow } from '../siem/types.js'
import { nextReaskFrom } from '../siem/windows.js'
import type { WindowLimits } from '../siem/windows.js'
import { STATE_VERSION } from '../state/index.js'
import type { ReceiverState, UidKeyMap } from '../state/index.js'

/** Per key of a window, kept across attempts: its type (index into EVENT_TYPES, TYPE_MASK), | REJECTED if refused for good. */
export type Acknowledged = UidKeyMap
const TYPE_MASK = 3
export const REJECTED = 4

type ByType = Record<EventType, number>
const zeroByType = (): ByType => ({ messagesDelivered: 0, messagesBlocked: 0, clicksPermitted: 0, clicksBlocked: 0 })
export const sum = (byType: ByType): number => EVENT_TYPES.reduce((n, t) => n + byType[t], 0)

/** How the keys first seen in this window (`fresh`) ended: exported or rejected, by type. */
export function tally(fresh: UidKeyMap, done: Acknowledged): { exported: ByType; rejected: ByType } {
  const outcome = { exported: zeroByType(), rejected: zeroByType() }
  fresh.forEach((_type, key) => {
    const ack = done.getKey(key)
    if (ack !== undefined) outcome[ack & REJECTED ? 'rejected' : 'exported'][EVENT_TYPES[ack & TYPE_MASK]!]++
  })
  return outcome
}

export interface CommitInput {
  state: ReceiverState
  window: TimeWindow
  /** Where the API's answer ends for the cursor (≤ window end: queryEndTime, the API's present). */
  settledEnd: number
  /** When the request went out, by the API's clock. */
  queriedAt: number
  /** The re-ask point a split plan kept for later (planNextWindow's reaskPendingFrom). */
  reaskPendingFrom: number | undefined
  /** Time the cursor skipped because the API no longer serves it (ms). */
  gapMs: number
  /** Keys exported before this window, each filed under the end of the window it came in. */
  exported: UidKeyMap
  fresh: UidKeyMap
  /** Records of this window the collector acknowledged (not counting refusals). */
  exportedCount: number
  overlapMs: number
  limits: WindowLimits
  /** The wall clock. */
  now: number
  apiRequests: number[]
}

/** The state after a window, and the exported-keys map it holds (decoded). */
export function nextState(input: CommitInput): { state: ReceiverState; exported: UidKeyMap } {
  const { state, window, settledEnd } = input
  const windowEnd = window.end.getTime()
  const cursor = Date.parse(state.cursor)
  const answered = { start: window.start, end: new Date(Math.max(settledEnd, window.start.getTime())) }
  // Nothing answered: the re-ask point stays where it was (never after the cursor).
  const reaskFrom =
    settledEnd <= window.start.getTime()
      ? Math.min(state.reaskFrom === undefined ? cursor : Date.parse(state.reaskFrom), cursor)
      : nextReaskFrom(answered, input.queriedAt, input.overlapMs, input.limits, input.reaskPendingFrom)
  // Keys that can no longer be re-reported go; this window's come in, filed under the requested end (their events
  // were created no later than that), so no later window that can hold them outlives them. Refused records are
  // remembered too: re-sending them on the next overlap would only be refused again.
  const exported = input.exported.filter((end) => end >= reaskFrom)
  input.fresh.forEach((_type, key) => exported.setKey(key, Math.max(windowEnd, exported.getKey(key) ?? 0)))
  const gapSeconds = (state.gapSeconds ?? 0) + Math.round(input.gapMs / 1000)
  const lastEventAt = input.exportedCount > 0 ? new Date(input.now).toISOString() : state.lastEventAt
  return {
    exported,
    state: {
      version: STATE_VERSION,
      cursor: new Date(Math.max(cursor, settledEnd)).toISOString(),
      exportedKeys: exported.toBuckets(),
      reaskFrom: new Date(reaskFrom).toISOString(),
      apiRequests: input.apiRequests,
      ...(gapSeconds > 0 ? { gapSeconds } : {}),
      ...(lastEventAt ? { lastEventAt } : {}),
      ...(state.noEventsAlerting && input.exportedCount === 0 ? { noEventsAlerting: true } : {}),
    },
  }
}

/** Stopped mid-window: the keys the collector already acknowledged join the exported ones (the cursor stays). */
export function withAcknowledged(exported: UidKeyMap, window: TimeWindow, done: Acknowledged): UidKeyMap {
  const next = exported.filter(() => true)
  done.forEach((_v, key) => next.setKey(key, Math.max(window.end.getTime(), next.getKey(key) ?? 0)))
  return next
}

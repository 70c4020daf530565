/**
 * What a finished window changes, pure: how its keys ended (exported or refused) and the state to save (cursor, sweep
 * cursors and re-ask point, keys not to export again, budget, gap, last event, alert flag). The poller saves it before
 * it moves on.
 */
import { EVENT_TYPES } from '../siem/types.js'
import type { EventType, TimeWindow } from '../siem/types.js'
import { afterFreshWindow } from '../siem/sweeps.js'
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
  /** Undefined for a fresh window (new time after the cursor); else the sweep stage it re-read (index into agesMs). */
  stage: number | undefined
  /** Where the API's answer ends (≤ window end: queryEndTime, the API's present). */
  settledEnd: number
  /** When the request went out, by the API's clock. */
  queriedAt: number
  /** Time the cursor skipped because the API no longer serves it (ms). */
  gapMs: number
  /** Keys exported before this window, each filed under the end of the window it came in. */
  exported: UidKeyMap
  fresh: UidKeyMap
  /** Records of this window the collector acknowledged (not counting refusals). */
  exportedCount: number
  /** The sweep stages' ages (siem/sweeps.ts); the state's `sweeps` hold one entry per age. */
  agesMs: readonly number[]
  limits: WindowLimits
  /** The wall clock. */
  now: number
  apiRequests: number[]
}

/** The stage cursors of a state (PollState.load matched them to the configured ages), epoch ms. */
export const throughsOf = (state: ReceiverState): number[] => (state.sweeps ?? []).map((s) => Date.parse(s.through))

/** The state after a window, and the exported-keys map it holds (decoded). */
export function nextState(input: CommitInput): { state: ReceiverState; exported: UidKeyMap } {
  const { state, window, settledEnd, stage, agesMs } = input
  const windowEnd = window.end.getTime()
  const cursor = Date.parse(state.cursor)
  // Nothing answered: nothing moves.
  const answered = settledEnd > window.start.getTime()
  const nextCursor = stage === undefined ? Math.max(cursor, settledEnd) : cursor
  // Past a gap (a cursor older than the API serves; fresh windows only) the stages come along: what they had not read
  // again before it is out of reach too (the poller says so), and the gap itself was never read once.
  const alongTo = input.gapMs > 0 ? Math.min(window.start.getTime(), nextCursor) : -Infinity
  const before = throughsOf(state).map((through) => Math.max(through, alongTo))
  const throughs = !answered
    ? before
    : stage === undefined
      ? afterFreshWindow(before, window, settledEnd, input.queriedAt, agesMs, input.limits)
      : before.map((through, i) => (i === stage ? Math.max(through, settledEnd) : through))
  // The earliest instant a later request asks from: keys filed before it can no longer be re-reported.
  const reaskFrom = Math.min(nextCursor, ...throughs)
  // Keys that can no longer be re-reported go; this window's come in, filed under the requested end (their events
  // were created no later than that), so no later window that can hold them outlives them: a key lives until the
  // last sweep of its span is committed. Refused records are remembered too: sending them again would only be refused.
  const exported = input.exported.filter((end) => end >= reaskFrom, input.fresh.size)
  input.fresh.forEach((_type, key) => exported.setKey(key, Math.max(windowEnd, exported.getKey(key) ?? 0)))
  const gapSeconds = (state.gapSeconds ?? 0) + Math.round(input.gapMs / 1000)
  const lastEventAt = input.exportedCount > 0 ? new Date(input.now).toISOString() : state.lastEventAt
  return {
    exported,
    state: {
      version: STATE_VERSION,
      cursor: new Date(nextCursor).toISOString(),
      exportedKeys: exported.toBuckets(),
      reaskFrom: new Date(reaskFrom).toISOString(),
      ...(agesMs.length > 0 ? { sweeps: agesMs.map((age, i) => ({ ageSeconds: age / 1000, through: new Date(throughs[i] ?? reaskFrom).toISOString() })) } : {}),
      apiRequests: input.apiRequests,
      ...(gapSeconds > 0 ? { gapSeconds } : {}),
      ...(lastEventAt ? { lastEventAt } : {}),
      ...(state.noEventsAlerting && input.exportedCount === 0 ? { noEventsAlerting: true } : {}),
      ...(state.source === undefined ? {} : { source: state.source }),
      // Still only where the look-back put it until a window moves it.
      ...(state.fresh && nextCursor <= cursor ? { fresh: true } : {}),
    },
  }
}

/** Stopped mid-window: the keys the collector already acknowledged join the exported ones (the cursor stays). */
export function withAcknowledged(exported: UidKeyMap, window: TimeWindow, done: Acknowledged): UidKeyMap {
  const next = exported.filter(() => true, done.size)
  done.forEach((_v, key) => next.setKey(key, Math.max(window.end.getTime(), next.getKey(key) ?? 0)))
  return next
}

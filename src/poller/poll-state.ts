/** The receiver's state as the poller holds it. The state file is the receiver's only durable write. */
import { errorInfo } from '../errors.js'
import type { TimeWindow } from '../siem/types.js'
import { loadThroughs } from '../siem/sweeps.js'
import { initialCursor } from '../siem/windows.js'
import type { WindowLimits } from '../siem/windows.js'
import { STATE_VERSION, UidKeyMap, checkStateTimes, sourceChanges } from '../state/index.js'
import type { ReceiverState, StateSource } from '../state/index.js'
import { throughsOf, withAcknowledged } from './commit.js'
import type { Acknowledged } from './commit.js'
import type { PollerDeps } from './types.js'
import type { Waits } from './waits.js'

export class PollState {
  private state: ReceiverState | undefined
  /** The state's exportedKeys, decoded: the uids a poll must not export again. Replaced at each commit. */
  exported = new UidKeyMap()

  constructor(private readonly deps: Pick<PollerDeps, 'store' | 'status' | 'logger'> & { waits: Waits }) {}

  /** Loads the saved state (throws StateError when it is unusable), or starts one RECEIVER_START_LOOKBACK ago. */
  /** `source`: what this run polls; a saved state of another is said (sourceChanges), and the state takes this one. */
  async load(clock: () => number, lookbackMs: number, limits: WindowLimits, sweepAgesMs: readonly number[], source?: StateSource): Promise<ReceiverState> {
    const { store, status, logger } = this.deps
    const loaded = await store.load()
    const now = clock()
    const checked = loaded === undefined ? undefined : checkStateTimes(loaded, now)
    for (const warning of checked?.warnings ?? []) logger.warn(warning)
    const saved = checked?.state
    if (saved !== undefined && source !== undefined) for (const change of sourceChanges(saved.source, source, saved.cursor)) logger.warn(change)
    const start = initialCursor(now, lookbackMs, limits).getTime()
    const loadedState = saved?.fresh ? freshAgain(saved, start) : (saved ?? { version: STATE_VERSION, cursor: new Date(start).toISOString(), exportedKeys: {}, fresh: true })
    const state = withSweeps(source === undefined ? loadedState : { ...loadedState, source }, sweepAgesMs)
    this.state = state
    this.exported = UidKeyMap.fromBuckets(state.exportedKeys)
    status.setCursor(state.cursor)
    status.sweeps.setThroughs(throughsOf(state))
    status.noEvents.restore(state.lastEventAt, state.noEventsAlerting === true, now)
    status.setGapSeconds(state.gapSeconds ?? 0)
    const how = !saved ? 'no saved cursor: starting RECEIVER_START_LOOKBACK ago' : saved.fresh
      ? 'no window was committed from the saved cursor: starting RECEIVER_START_LOOKBACK ago, or at the saved start if that is earlier'
      : 'resuming from the saved cursor'
    logger.info({ cursor: state.cursor, resumed: saved !== undefined && !saved.fresh }, how)
    return state
  }

  /** No window committed yet in this state: the cursor is only where RECEIVER_START_LOOKBACK put it. */
  get fresh(): boolean {
    return this.current.fresh === true
  }

  get current(): ReceiverState {
    if (!this.state) throw new Error('Poller.start() was not called')
    return this.state
  }

  async save(next: ReceiverState): Promise<true> {
    await this.deps.store.save(next)
    this.deps.status.setStateDirOk(true)
    this.state = next
    return true
  }

  /** Saves `next`, retrying until it is on disk; false when stopped first. */
  async saveRetrying(next: ReceiverState): Promise<boolean> {
    return (await this.deps.waits.retry('state', () => this.save(next))) !== undefined
  }

  /** Saves a window's new state (commit.ts's nextState) with the exported keys it holds; false when stopped first. */
  async commit(next: ReceiverState, exported: UidKeyMap): Promise<boolean> {
    const { status } = this.deps
    if (!(await this.saveRetrying(next))) return false
    this.exported = exported
    status.setCursor(next.cursor)
    status.sweeps.setThroughs(throughsOf(next))
    status.setLastEventAt(next.lastEventAt)
    status.setGapSeconds(next.gapSeconds ?? 0)
    return true
  }

  /** Moves the cursor without saving it: the next commit saves it (see ClockCheck). */
  moveCursor(moved: ReceiverState): void {
    this.state = moved
    this.deps.status.setCursor(moved.cursor)
  }

  /**
   * Stopped before a window was committed (a rollout): the cursor and the alert flag stay, the acknowledged keys are
   * saved (one try, even once stopped); the restart sends only the rest.
   */
  /**
   * A window left before its commit (`why`: stopping, or planned again): the keys the collector acknowledged are kept,
   * in memory and in the state file, so that neither this process nor a restart sends them again.
   */
  async keepAcknowledged(window: TimeWindow, done: Acknowledged, apiRequests: () => number[], why = 'stopping mid-window'): Promise<void> {
    if (done.size === 0) return
    const { logger } = this.deps
    const exported = withAcknowledged(this.exported, window, done)
    this.exported = exported
    try {
      await this.save({ ...this.current, exportedKeys: exported.toBuckets(), apiRequests: apiRequests() })
      logger.info({ records: done.size }, `${why}: the records the collector acknowledged are saved and will not be sent again`)
    } catch (err) {
      logger.warn({ err: errorInfo(err) }, `${why}: could not save the acknowledged records; they will be sent again after a restart`)
    }
  }
}

/**
 * A saved state no window was committed from (its file holds request times, maybe acknowledged keys) starts afresh:
 * from the earlier of its cursor and `startMs` (this run's RECEIVER_START_LOOKBACK), so a longer look-back applies
 * and one that would skip what the first run never delivered does not. Request times and keys stay.
 */
function freshAgain(saved: ReceiverState, startMs: number): ReceiverState {
  const { reaskFrom: _cursor, ...rest } = saved
  return { ...rest, cursor: new Date(Math.min(Date.parse(saved.cursor), startMs)).toISOString() }
}

/** The state with one sweep stage per configured age (siem/sweeps.ts loadThroughs: older files and changed ages). */
function withSweeps(state: ReceiverState, agesMs: readonly number[]): ReceiverState {
  const { sweeps: _saved, ...rest } = state
  if (agesMs.length === 0) return rest
  const saved = (state.sweeps ?? []).map((s) => ({ ageMs: s.ageSeconds * 1000, throughMs: Date.parse(s.through) }))
  const reaskFrom = state.reaskFrom === undefined ? undefined : Date.parse(state.reaskFrom)
  const throughs = loadThroughs(agesMs, saved, Date.parse(state.cursor), reaskFrom)
  return { ...rest, sweeps: agesMs.map((age, i) => ({ ageSeconds: age / 1000, through: new Date(throughs[i]!).toISOString() })) }
}

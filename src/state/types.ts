import type { StateSource } from './source.js'

/** The state file's content. `version` guards the format: a file with another version is refused, never guessed at. */
export interface ReceiverState {
  version: 2
  /** ISO-8601 end of the last fully acknowledged window: every event created up to here has been exported. */
  cursor: string
  /** ISO-8601 time an event was last exported; keeps the no-events alert honest across restarts. */
  lastEventAt?: string
  /**
   * The `log.record.uid`s that can still be re-reported (window boundaries, the overlap), so the poller drops them:
   * end of the window they were exported in (epoch ms, decimal) → base64 of their 16-byte keys (UidKeyMap.toBuckets).
   */
  exportedKeys: Record<string, string>
  /**
   * ISO-8601 instant (≤ cursor): the earliest a later request asks again from, for events indexed late (RECEIVER_OVERLAP):
   * the oldest sweep's `through`; absent: the cursor. Kept so that a receiver from before sweeps can read the file.
   */
  reaskFrom?: string
  /** Late-event sweeps: per stage, its age and the ISO-8601 instant (≤ cursor) it has read through. Absent in older files. */
  sweeps?: SweepState[]
  /** Epoch ms of each SIEM API request in the last 24 h: the request budget survives restarts. */
  apiRequests?: number[]
  /** Total seconds skipped because the cursor was older than the API serves (7 days): shown, never hidden. */
  gapSeconds?: number
  /** The no-events alert was raised and its log record exported: not raised again after a restart. */
  noEventsAlerting?: boolean
  /** The SIEM API account and event selection the cursor covers (source.ts); absent in older files. */
  source?: StateSource
  /**
   * No window committed yet: the cursor is only where RECEIVER_START_LOOKBACK put it (the file exists because request
   * times are saved before the first request). A restart starts afresh, from the earlier of this cursor and its own
   * look-back. Absent once a window is committed; a receiver that does not know it reads the file as before.
   */
  fresh?: boolean
}

/** One sweep stage: every instant before `through` was read again at least `ageSeconds` after it (see siem/sweeps.ts). */
export interface SweepState {
  ageSeconds: number
  through: string
}

/** Where the receiver state lives. `save` is all-or-nothing: after a crash `load` returns the old or the new state. */
export interface StateStore {
  /** The saved state, or `undefined` when none was ever saved. Throws `StateError` when the saved state is unusable. */
  load(): Promise<ReceiverState | undefined>
  /** Replaces the saved state. Resolves only once the state is durable. Throws `StateError`. */
  save(state: ReceiverState): Promise<void>
}

export const STATE_VERSION = 2

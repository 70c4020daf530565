/** The no-events alert as the poller sends it (NoEventsAlert decides when): retried until the collector acknowledges it. */
import type { LogRecordParts } from '../mapping/types.js'
import type { PollState } from './poll-state.js'
import type { ExportOutcome, PollerDeps } from './types.js'
import type { Waits } from './waits.js'

interface NoEventsAlertDeps extends Pick<PollerDeps, 'status' | 'logger'> {
  clock: () => number
  waits: Waits
  state: PollState
  /** One export call, reported (PollReporter.exported). */
  send: (records: LogRecordParts[]) => Promise<ExportOutcome>
}

export class NoEventsAlerts {
  constructor(private readonly deps: NoEventsAlertDeps) {}

  /** Raises the alert once per silence, remembered in the state file so a restart does not raise it again. False when stopped. */
  async raise(): Promise<boolean> {
    const { status, logger, clock, state } = this.deps
    const alert = status.noEvents
    const record = alert.toRaise(clock())
    if (!record) return true
    logger.warn(
      { thresholdSeconds: alert.thresholdMs / 1000, lastEventAt: alert.lastEventAt ?? null, silentSeconds: Math.floor(alert.silentMs(clock()) / 1000) },
      'no events exported for longer than RECEIVER_NO_EVENTS_ALERT_AFTER: raising the no-events alert',
    )
    if (!(await this.send(record))) return false
    if (!(await state.saveRetrying({ ...state.current, noEventsAlerting: true }))) return false
    alert.markRaised()
    return true
  }

  /** Events flow again after a raised alert: one INFO record saying so, before the window that ends the silence is committed. */
  async clear(): Promise<boolean> {
    const alert = this.deps.status.noEvents
    const record = alert.toClear(this.deps.clock())
    if (!record) return true
    this.deps.logger.info({ lastEventAt: alert.lastEventAt ?? null }, 'events are flowing again: clearing the no-events alert')
    if (!(await this.send(record))) return false
    alert.markCleared()
    return true
  }

  private async send(record: LogRecordParts): Promise<boolean> {
    return (await this.deps.waits.retry('export', () => this.deps.send([record]))) !== undefined
  }
}

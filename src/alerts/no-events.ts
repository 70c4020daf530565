/**
 * The no-events alert as OpenTelemetry log records in the same OTLP stream as the events, so the alerting a team has in
 * its backend fires (Panther's Proofpoint source raises the same alert, default after 24 h). No I/O: the poller sends.
 */
import { createHash } from 'node:crypto'
import type { HrTime, LogRecordParts } from '../mapping/types.js'

export const NO_EVENTS_EVENT_NAME = 'proofpoint.receiver.no_events'
export const EVENTS_RESUMED_EVENT_NAME = 'proofpoint.receiver.events_resumed'

const hr = (ms: number): HrTime => [Math.floor(ms / 1000), (ms % 1000) * 1e6]

/** What /status shows of the rule. */
export interface NoEventsView {
  alerting: boolean
  thresholdSeconds: number
  lastEventAt: string | null
  silentSeconds: number
}

/** A monotonic clock and the process start on it. */
export interface MonotonicClock {
  now: () => number
  startedMono: number
}

/**
 * The no-events rule, in one place: silent (no event exported) since the last exported event, or since the process
 * started when none ever was, for at least RECEIVER_NO_EVENTS_ALERT_AFTER. It decides; /status, /readyz and /metrics
 * show what it says; the poller sends the records it hands out (once per silence, remembered in the state file).
 *
 * With a monotonic clock, the silence is measured on it within the process (from the silence's start, or from load
 * plus what the state file's wall time says passed before): a wall clock stepped 25 h forward (NTP after a VM resume)
 * would otherwise raise a false alert at once, and one stepped back would delay a true one. Without, on the wall clock
 * each call passes (tests).
 */
export class NoEventsAlert {
  private lastEvent: string | undefined
  private raisedNow = false
  /** On the monotonic clock: when the silence was last measured from, and how long it had lasted by then. */
  private anchorMono: number | undefined
  private priorMs = 0

  constructor(
    readonly thresholdMs: number,
    /** Process start, epoch ms: the silence runs from here when no event was ever exported. */
    private readonly startedAt: number,
    private readonly mono?: MonotonicClock,
  ) {
    this.anchorMono = mono?.startedMono
  }

  /** What the state file says, read at `now` (wall): the last exported event, and whether the alert was already raised. */
  restore(lastEventAt: string | undefined, raised: boolean, now: number): void {
    this.lastEvent = lastEventAt
    this.raisedNow = raised
    const last = lastEventAt === undefined ? NaN : Date.parse(lastEventAt)
    if (this.mono !== undefined && !Number.isNaN(last)) {
      this.priorMs = Math.max(0, now - last)
      this.anchorMono = this.mono.now()
    }
  }

  /** An exported event's time was recorded (the state's lastEventAt, handed over at every save). */
  eventsExportedAt(lastEventAt: string | undefined): void {
    if (lastEventAt === this.lastEvent) return
    this.lastEvent = lastEventAt
    if (this.mono !== undefined) {
      this.priorMs = 0
      this.anchorMono = this.mono.now()
    }
  }

  /** How long nothing was exported, at `now` (wall; used only without a monotonic clock). */
  silentMs(now: number): number {
    if (this.mono === undefined || this.anchorMono === undefined) return now - this.silentSince()
    return this.priorMs + (this.mono.now() - this.anchorMono)
  }

  get lastEventAt(): string | undefined {
    return this.lastEvent
  }

  /** Since when nothing was exported (epoch ms, as the wall clock said): names the silence. */
  silentSince(): number {
    const last = this.lastEvent === undefined ? NaN : Date.parse(this.lastEvent)
    return Number.isNaN(last) ? this.startedAt : last
  }

  alerting(now: number): boolean {
    return this.silentMs(now) >= this.thresholdMs
  }

  /** The record to send when the rule fires and this silence was not raised yet; undefined otherwise. */
  toRaise(now: number): LogRecordParts | undefined {
    if (this.raisedNow || !this.alerting(now)) return undefined
    return this.record('raised', now)
  }

  /** The raise record was acknowledged and the state saved. */
  markRaised(): void {
    this.raisedNow = true
  }

  /** Events flow again after a raised alert: the record saying so (undefined when nothing was raised). */
  toClear(now: number): LogRecordParts | undefined {
    return this.raisedNow ? this.record('cleared', now) : undefined
  }

  /** The clear record was acknowledged (the state saved with the window drops the flag). */
  markCleared(): void {
    this.raisedNow = false
  }

  view(now: number): NoEventsView {
    return {
      alerting: this.alerting(now),
      thresholdSeconds: this.thresholdMs / 1000,
      lastEventAt: this.lastEvent ?? null,
      silentSeconds: Math.max(0, Math.floor(this.silentMs(now) / 1000)),
    }
  }

  /** The record for the alert being raised (WARN) or cleared because events flow again (INFO). */
  private record(kind: 'raised' | 'cleared', now: number): LogRecordParts {
    const silentSinceMs = this.silentSince()
    const silentSeconds = Math.max(0, Math.floor(this.silentMs(now) / 1000))
    const thresholdSeconds = Math.floor(this.thresholdMs / 1000)
    const raised = kind === 'raised'
    const eventName = raised ? NO_EVENTS_EVENT_NAME : EVENTS_RESUMED_EVENT_NAME
    const attributes: Record<string, string | number> = {
      'proofpoint.receiver.no_events.threshold_seconds': thresholdSeconds,
      'proofpoint.receiver.no_events.silent_seconds': silentSeconds,
    }
    if (this.lastEvent !== undefined) attributes['proofpoint.receiver.no_events.last_event_at'] = this.lastEvent
    const since = this.lastEvent ?? new Date(silentSinceMs).toISOString()
    // One key per silence: the same alert re-sent after a crash is recognisable as a duplicate.
    const uid = createHash('sha256').update(`${eventName}\n${since}\n${thresholdSeconds}`).digest('hex')
    return {
      eventName,
      uid,
      timestamp: hr(now),
      observedTimestamp: hr(now),
      severityNumber: raised ? 13 : 9,
      severityText: raised ? 'WARN' : 'INFO',
      attributes: { ...attributes, 'log.record.uid': uid },
      body: raised
        ? `No Proofpoint TAP events exported for ${silentSeconds} s (alert threshold ${thresholdSeconds} s); ` +
          `last event ${this.lastEvent ?? 'never since the receiver started'}`
        : `Proofpoint TAP events are flowing again after ${silentSeconds} s without events`,
    }
  }
}

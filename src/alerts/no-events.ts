/**
 * The no-events alert as OpenTelemetry log records, sent into the same OTLP stream as the events, so the alerting
 * a team already has in its backend fires (Panther's Proofpoint source raises the same alert, default after 24 h).
 * Pure: the poller decides when the state flips and exports the record.
 */
import { createHash } from 'node:crypto'
import type { HrTime, LogRecordParts } from '../mapping/types.js'

export const NO_EVENTS_EVENT_NAME = 'proofpoint.receiver.no_events'
export const EVENTS_RESUMED_EVENT_NAME = 'proofpoint.receiver.events_resumed'

export interface NoEventsFacts {
  now: number
  thresholdMs: number
  /** ISO time an event was last exported; undefined if never (the clock then runs from process start). */
  lastEventAt: string | undefined
  /** Since when nothing was exported (lastEventAt, or the process start). */
  silentSinceMs: number
}

const hr = (ms: number): HrTime => [Math.floor(ms / 1000), (ms % 1000) * 1e6]

/** The record for the alert being raised (WARN) or cleared because events flow again (INFO). */
export function noEventsRecord(kind: 'raised' | 'cleared', f: NoEventsFacts): LogRecordParts {
  const silentSeconds = Math.max(0, Math.floor((f.now - f.silentSinceMs) / 1000))
  const thresholdSeconds = Math.floor(f.thresholdMs / 1000)
  const raised = kind === 'raised'
  const eventName = raised ? NO_EVENTS_EVENT_NAME : EVENTS_RESUMED_EVENT_NAME
  const attributes: Record<string, string | number> = {
    'proofpoint.receiver.no_events.threshold_seconds': thresholdSeconds,
    'proofpoint.receiver.no_events.silent_seconds': silentSeconds,
  }
  if (f.lastEventAt !== undefined) attributes['proofpoint.receiver.no_events.last_event_at'] = f.lastEventAt
  const since = f.lastEventAt ?? new Date(f.silentSinceMs).toISOString()
  // One key per silence: the same alert re-sent after a crash is recognisable as a duplicate.
  const uid = createHash('sha256').update(`${eventName}\n${since}\n${thresholdSeconds}`).digest('hex')
  return {
    eventName,
    uid,
    timestamp: hr(f.now),
    observedTimestamp: hr(f.now),
    severityNumber: raised ? 13 : 9,
    severityText: raised ? 'WARN' : 'INFO',
    attributes: { ...attributes, 'log.record.uid': uid },
    body: raised
      ? `No Proofpoint TAP events exported for ${silentSeconds} s (alert threshold ${thresholdSeconds} s); last event ${f.lastEventAt ?? 'never since the receiver started'}`
      : `Proofpoint TAP events are flowing again after ${silentSeconds} s without events`,
  }
}

/**
 * Severity of a SIEM event (design §3).
 *
 * The rule, in order:
 * 1. Every threat of the event is `falsePositive` or `cleared` → INFO (9). For messages "every threat" means every
 *    entry of `threatsInfoMap` (which must be a non-empty array: an event without threat information is not
 *    downgraded); for clicks it is the click's own `threatStatus`.
 * 2. Otherwise by event type:
 *    - `clicksPermitted`: someone reached a URL we know is bad. ERROR (17) when the threat is `active` and its
 *      `classification` is `malware` or `phish`; WARN (13) otherwise (spam, impostor, unknown, missing status).
 *    - `messagesDelivered`: WARN (13) – a threat reached a mailbox.
 *    - `messagesBlocked`, `clicksBlocked`: INFO (9) – Proofpoint stopped it.
 * Comparisons of statuses and classifications ignore case.
 */
import { SeverityNumber } from '@opentelemetry/api-logs'
import type { EventType, JsonObject, JsonValue } from '../siem/types.js'

export interface Severity {
  readonly number: SeverityNumber
  readonly text: string
}

export const SEVERITY_INFO: Severity = { number: SeverityNumber.INFO, text: 'INFO' }
export const SEVERITY_WARN: Severity = { number: SeverityNumber.WARN, text: 'WARN' }
export const SEVERITY_ERROR: Severity = { number: SeverityNumber.ERROR, text: 'ERROR' }

const BASE: Readonly<Record<EventType, Severity>> = {
  messagesDelivered: SEVERITY_WARN,
  messagesBlocked: SEVERITY_INFO,
  clicksPermitted: SEVERITY_WARN,
  clicksBlocked: SEVERITY_INFO,
}

function lower(v: JsonValue | undefined): string | undefined {
  return typeof v === 'string' ? v.toLowerCase() : undefined
}

function isInactiveStatus(v: JsonValue | undefined): boolean {
  const s = lower(v)
  return s === 'falsepositive' || s === 'cleared'
}

/** True when the event has threats and every one of them is `falsePositive` or `cleared`. */
export function allThreatsInactive(event: JsonObject, type: EventType): boolean {
  if (type === 'clicksPermitted' || type === 'clicksBlocked') return isInactiveStatus(event.threatStatus)
  const threats = event.threatsInfoMap
  if (!Array.isArray(threats) || threats.length === 0) return false
  for (const t of threats) {
    if (t === null || typeof t !== 'object' || Array.isArray(t) || !isInactiveStatus(t.threatStatus)) return false
  }
  return true
}

/** Severity of one event; `event` is undefined when the event is not an object (then the type decides). */
export function severityOf(event: JsonObject | undefined, type: EventType): Severity {
  if (event === undefined) return BASE[type]
  if (allThreatsInactive(event, type)) return SEVERITY_INFO
  if (type === 'clicksPermitted' && lower(event.threatStatus) === 'active') {
    const c = lower(event.classification)
    if (c === 'malware' || c === 'phish') return SEVERITY_ERROR
  }
  return BASE[type]
}

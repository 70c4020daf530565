/**
 * Severity of a SIEM event (design §3). INFO when every threat is `falsePositive` or `cleared` (every entry of a
 * message's non-empty `threatsInfoMap`, a click's own `threatStatus`); ERROR for a permitted click on an active
 * malware or phish threat; else by type: WARN when the threat got through, INFO when Proofpoint stopped it.
 * Statuses and classifications compare case-insensitively.
 */
import type { SeverityNumber } from '@opentelemetry/api-logs'
import type { EventType, JsonObject, JsonValue } from '../siem/types.js'

export interface Severity {
  readonly number: SeverityNumber
  readonly text: string
}

// The specification's numbers (SeverityNumber.INFO, WARN, ERROR), written out: importing the enum's module would
// load @opentelemetry/api-logs into every worker thread for three constants (a test checks they agree).
const SEVERITY_INFO: Severity = { number: 9, text: 'INFO' }
const SEVERITY_WARN: Severity = { number: 13, text: 'WARN' }
const SEVERITY_ERROR: Severity = { number: 17, text: 'ERROR' }

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

function allThreatsInactive(event: JsonObject, type: EventType): boolean {
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

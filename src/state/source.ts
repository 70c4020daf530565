/**
 * Which SIEM API account, and which of its events, a state file's cursor covers. The cursor is one for every event
 * type and filter of one account: a state directory reused for another tenant, or after the event types or filters
 * were widened, resumes at a cursor whose past was never asked for those events. The API tells nothing that
 * identifies a tenant, and a rotated credential of the same tenant has a new principal, so a change is said, not
 * refused: the operator knows which one it is.
 */
import type { ReceiverConfig } from '../config/types.js'

export interface StateSource {
  /** PROOFPOINT_BASE_URL without credentials, query or trailing slash. */
  api: string
  principal: string
  eventTypes: string[]
  threatStatus?: string
  threatType?: string
}

/** The source a configuration polls. */
export function stateSource(proofpoint: Pick<ReceiverConfig['proofpoint'], 'baseUrl' | 'principal' | 'eventTypes' | 'threatStatus' | 'threatType'>): StateSource {
  const source: StateSource = { api: apiOf(proofpoint.baseUrl), principal: proofpoint.principal, eventTypes: [...proofpoint.eventTypes] }
  if (proofpoint.threatStatus !== undefined) source.threatStatus = proofpoint.threatStatus
  if (proofpoint.threatType !== undefined) source.threatType = proofpoint.threatType
  return source
}

function apiOf(baseUrl: string): string {
  try {
    const url = new URL(baseUrl)
    return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`
  } catch {
    return baseUrl
  }
}

/** Why `value` cannot be a StateSource, or undefined when it can. */
export function sourceProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'source is not an object'
  const v = value as Record<string, unknown>
  if (typeof v.api !== 'string' || typeof v.principal !== 'string') return 'source.api and source.principal are not strings'
  if (!Array.isArray(v.eventTypes) || !v.eventTypes.every((x) => typeof x === 'string')) return 'source.eventTypes is not a list of strings'
  for (const k of ['threatStatus', 'threatType'] as const) {
    if (v[k] !== undefined && typeof v[k] !== 'string') return `source.${k} is not a string`
  }
  return undefined
}

/** A copy, for the state file. */
export function copySource(s: StateSource): StateSource {
  return { ...s, eventTypes: [...s.eventTypes] }
}

/**
 * What changed since the state was saved, as warnings that say what it means for events before `cursor` and what to
 * do; none for a file from before sources were kept.
 */
export function sourceChanges(saved: StateSource | undefined, now: StateSource, cursor: string): string[] {
  if (saved === undefined) return []
  const out: string[] = []
  const separately = `run a receiver with its own RECEIVER_STATE_DIR and RECEIVER_START_LOOKBACK reaching back far enough`
  if (saved.api !== now.api || saved.principal !== now.principal) {
    out.push(
      `RECEIVER_STATE_DIR was written for principal "${saved.principal}" at ${saved.api}, and this run uses "${now.principal}" at ${now.api}: ` +
        `its cursor (${cursor}), dedup keys and request count are taken over. A rotated credential of the same Proofpoint ` +
        `tenant needs nothing more; for another tenant this skips its events before the cursor: give each tenant its own RECEIVER_STATE_DIR`,
    )
  }
  const added = now.eventTypes.filter((t) => !saved.eventTypes.includes(t))
  if (added.length > 0) {
    out.push(
      `PROOFPOINT_EVENT_TYPES now includes ${added.join(', ')}, which the state's cursor (${cursor}) did not cover: they are ` +
        `fetched from the cursor on, not before it (one cursor serves every type); to fetch their earlier events, ${separately} and only those types`,
    )
  }
  for (const [name, key] of [['PROOFPOINT_THREAT_STATUS', 'threatStatus'], ['PROOFPOINT_THREAT_TYPE', 'threatType']] as const) {
    const before = saved[key]
    // Narrowed or unchanged: nothing before the cursor is missing.
    if (before === undefined || before === now[key]) continue
    out.push(
      `${name} was "${before}" when the state's cursor (${cursor}) was reached and is now ${now[key] === undefined ? 'unset' : `"${now[key]}"`}: ` +
        `events the old filter left out are fetched from the cursor on, not before it; to fetch the earlier ones, ${separately}`,
    )
  }
  return out
}

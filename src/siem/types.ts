/** The four event arrays of a `/v2/siem/all?format=json` response, in the order the API documents them. */
export const EVENT_TYPES = ['messagesDelivered', 'messagesBlocked', 'clicksPermitted', 'clicksBlocked'] as const
export type EventType = (typeof EVENT_TYPES)[number]

/** Single-type endpoints, used when exactly one event type is configured. */
export const EVENT_TYPE_PATHS: Record<EventType, string> = {
  messagesDelivered: '/v2/siem/messages/delivered',
  messagesBlocked: '/v2/siem/messages/blocked',
  clicksPermitted: '/v2/siem/clicks/permitted',
  clicksBlocked: '/v2/siem/clicks/blocked',
}
export const ALL_EVENTS_PATH = '/v2/siem/all'

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject
export interface JsonObject {
  [key: string]: JsonValue
}

/**
 * Events by type, in the order the API sent them. `texts`, where the source has them (the streaming parser does),
 * holds beside each event, index-aligned, its JSON text exactly as the API sent it: the `json` body of its record.
 */
export interface EventBatch {
  events: Record<EventType, JsonValue[]>
  texts?: Record<EventType, string[]>
}

/** One parsed SIEM response. Events are kept as received; the mapper decides what is malformed. */
export interface SiemResponse extends EventBatch {
  queryEndTime?: string
}

/** A half-open-looking but API-inclusive time window: the API returns events created in [start, end]. */
export interface TimeWindow {
  start: Date
  end: Date
}

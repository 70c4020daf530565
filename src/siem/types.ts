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
  /** Those of `texts` whose bytes were not valid UTF-8 (decoded with U+FFFD in their place); absent when none were. */
  invalidUtf8?: ReadonlySet<string>
  /** Events not parsed yet, when the source was asked for them raw (`events` is then empty). */
  raw?: RawEvents
}

/** Raw batches wanted: `true`, or where their buffers come from (recycled ones: a batch's buffer, at least `size` long). */
export type RawMode = boolean | { buffer(size: number): Uint8Array }

/**
 * Events not parsed yet (RECEIVER_WORKERS: worker threads parse, map and encode them): their bytes exactly as the API
 * sent them, back to back in a buffer of their own (so it can be transferred), grouped by type in EVENT_TYPES order.
 */
export interface RawEvents {
  bytes: Uint8Array
  /** Element i is bytes[ends[i - 1] ?? 0, ends[i]). */
  ends: Uint32Array
  /** Elements per type, in EVENT_TYPES order. */
  counts: number[]
  /** Per type, the index in the API's array of the batch's first element of that type (for error messages). */
  first: number[]
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

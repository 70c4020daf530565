/** Event → log record mapping (design §3): pure, no I/O. */
export { INVALID_UTF8_REASON, mapEvent, mapResponse } from './map-event.js'
export { eventUid, canonicalJson } from './uid.js'
export { hrTimeFromIso } from './time.js'
export { EVENT_NAMES, CLICK_FIELDS, MESSAGE_FIELDS, MESSAGE_PART_KEYS, THREAT_INFO_KEYS } from './schema.js'
export type { FieldSpec } from './schema.js'
export type { AttributeShape, BodyMode, HrTime, MappedRecord, MappingOptions } from './types.js'

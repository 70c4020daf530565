/** Event → log record mapping (design §3): pure, no I/O. */
export { mapEvent, mapResponse, EVENT_TYPE_ATTRIBUTE, UID_ATTRIBUTE } from './map-event.js'
export { eventUid, canonicalJson } from './uid.js'
export { hrTimeFromIso } from './time.js'
export { severityOf, allThreatsInactive, SEVERITY_INFO, SEVERITY_WARN, SEVERITY_ERROR } from './severity.js'
export type { Severity } from './severity.js'
export {
  EVENT_NAMES,
  EVENT_FAMILY,
  TIME_FIELD,
  MESSAGE_FIELDS,
  CLICK_FIELDS,
  MESSAGE_PART_KEYS,
  THREAT_INFO_KEYS,
  ATTRIBUTE_PREFIX,
} from './schema.js'
export type { EventFamily, FieldSpec, ScalarKind } from './schema.js'
export type { AttributeShape, BodyMode, HrTime, MalformedReason, MappedRecord, MappingOptions } from './types.js'

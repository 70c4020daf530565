/**
 * One SIEM event → the parts of one OpenTelemetry log record (design §3). Pure: no I/O, no clock (the caller
 * passes the observed time), never throws. Problems with an event are collected as malformed reasons; the event
 * is exported all the same.
 */
import { randomUUID } from 'node:crypto'
import type { AnyValue, AnyValueMap } from '@opentelemetry/api-logs'
import { EVENT_TYPES } from '../siem/types.js'
import type { EventType, JsonObject, JsonValue, SiemResponse } from '../siem/types.js'
import { AttributeList } from './attribute-list.js'
import { isJsonObject, joinKey, putAttribute, putFieldAttribute } from './attributes.js'
import { putIndicatorAttributes } from './indicators.js'
import { limitDepth, MAX_DEPTH, safeJson } from './safe-json.js'
import { ATTRIBUTE_PREFIX, COMPILED_FIELDS, EVENT_FAMILY, EVENT_NAMES, TIME_FIELD } from './schema.js'
import type { FieldSpec, ScalarKind } from './schema.js'
import { severityOf } from './severity.js'
import { putStandardAttributes } from './standard-fields.js'
import { limitListStringLengths, limitStringLengths } from './string-limit.js'
import { hrTimeFromIso } from './time.js'
import type { AttributeShape, HrTime, ListedRecord, MalformedReason, MappedRecord, MappingOptions } from './types.js'
import { eventUid } from './uid.js'

/** Attribute holding the API array name (`messagesDelivered`, ...). */
const EVENT_TYPE_ATTRIBUTE = 'proofpoint.event_type'
const UID_ATTRIBUTE = 'log.record.uid'

/** The reason for an event whose text was not valid UTF-8 (the source knows, from its bytes: see EventBatch). */
export const INVALID_UTF8_REASON = 'not valid UTF-8: each invalid byte sequence is U+FFFD in its record and body'

/** Values quoted in malformed reasons are cut to this many characters. */
const QUOTE_MAX = 64

function truncate(s: string): string {
  return s.length > QUOTE_MAX ? s.slice(0, QUOTE_MAX) + '…' : s
}

/** A value for a reason: strings quoted, others as (truncated) JSON. */
function quote(v: JsonValue): string {
  return typeof v === 'string' ? JSON.stringify(truncate(v)) : truncate(safeJson(v))
}

function jsonType(v: JsonValue): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v
}

function describe(v: JsonValue): string {
  return typeof v === 'object' && v !== null ? jsonType(v) : `${jsonType(v)} ${quote(v)}`
}

/** The reason a scalar is not of its schema kind, or undefined when it is. Null is always acceptable (absent). */
function scalarProblem(path: string, kind: ScalarKind, v: JsonValue): string | undefined {
  switch (kind) {
    case 'string':
      return typeof v === 'string' ? undefined : `${path}: expected string, got ${describe(v)}`
    case 'int':
      // Kept as the number it is; beyond 2^53 an "integer" is a double that lost digits, so it is not an int either.
      if (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v)) return `${path}: expected int, got number beyond 2^53 ${quote(v)}`
      return typeof v === 'number' && Number.isInteger(v) ? undefined : `${path}: expected int, got ${describe(v)}`
    case 'number':
      return typeof v === 'number' && Number.isFinite(v) ? undefined : `${path}: expected number, got ${describe(v)}`
    case 'bool':
      return typeof v === 'boolean' ? undefined : `${path}: expected bool, got ${describe(v)}`
    case 'flag':
      return typeof v === 'boolean' || v === 'true' || v === 'false' || v === 'na' ? undefined : `${path}: expected bool, "true", "false" or "na", got ${describe(v)}`
    case 'time':
      if (typeof v !== 'string') return `${path}: expected time string, got ${describe(v)}`
      return hrTimeFromIso(v) === undefined ? `${path} unparseable: ${quote(v)}` : undefined
  }
}

/** Checks a non-null field value against its schema type. */
function checkField(name: string, spec: FieldSpec, v: JsonValue, malformed: MalformedReason[]): void {
  const problem = spec.kind === 'stringArray' || spec.kind === 'objectArray' ? arrayProblem(name, spec, v) : scalarProblem(name, spec.kind, v)
  if (problem !== undefined) malformed.push(problem)
}

/** Arrays report their first bad element only. */
function arrayProblem(name: string, spec: Exclude<FieldSpec, { kind: ScalarKind }>, v: JsonValue): string | undefined {
  if (spec.kind === 'stringArray' && spec.single === true && typeof v === 'string') return undefined
  if (!Array.isArray(v)) return `${name}: expected array of ${spec.kind === 'stringArray' ? 'strings' : 'objects'}, got ${describe(v)}`
  for (let i = 0; i < v.length; i++) {
    const el = v[i] as JsonValue
    if (el === null) continue
    if (spec.kind === 'stringArray') {
      if (typeof el !== 'string') return `${name}[${i}]: expected string, got ${describe(el)}`
      continue
    }
    if (!isJsonObject(el)) return `${name}[${i}]: expected object, got ${describe(el)}`
    for (const k in spec.keys) {
      const kv = el[k]
      if (kv === null || kv === undefined) continue
      const problem = scalarProblem(`${name}[${i}].${k}`, spec.keys[k] as ScalarKind, kv)
      if (problem !== undefined) return problem
    }
  }
  return undefined
}

function eventTime(v: JsonValue | undefined, field: string, malformed: MalformedReason[]): HrTime | undefined {
  if (v === null || v === undefined) {
    malformed.push(`${field} missing`)
    return undefined
  }
  const t = typeof v === 'string' ? hrTimeFromIso(v) : undefined
  if (t === undefined) malformed.push(`${field} unparseable: ${quote(v)}`)
  else if (t[0] < 0 || t[0] >= MAX_OTLP_SECONDS) {
    // OTLP times are unsigned 64-bit nanoseconds since 1970: outside, protobuf would wrap them to another date and
    // OTLP/JSON would carry a number collectors refuse, with the whole request.
    malformed.push(`${field} outside what OTLP can carry (1970 to 2554): ${quote(v)}`)
    return undefined
  }
  return t
}

/** 2^64 ns, in whole seconds: the first second an OTLP timestamp cannot hold entirely. */
const MAX_OTLP_SECONDS = 18_446_744_073

/**
 * An event whose JSON text is longer than this many UTF-8 bytes is exported with only its type, uid and time as
 * attributes, and its text as body, cut to OVERSIZE_BODY_BYTES: mapped whole (body, attributes, indicators), its
 * record could pass the 3 MiB a request may hold, and Fluent Bit refuses 4 MB. Proofpoint events are ~2 KB.
 */
export const OVERSIZE_EVENT_BYTES = 1024 * 1024
export const OVERSIZE_BODY_BYTES = 2 * 1024 * 1024
/**
 * A shorter event whose mapped record (attributes and body) would pass this many bytes goes out reduced the same
 * way: the attributes derived from a URL (its parts, percent-encoded, and `related.url`) can make a record ~8 times
 * its event's text.
 */
export const OVERSIZE_RECORD_BYTES = 2.5 * 1024 * 1024

/** The event's text cut to OVERSIZE_BODY_BYTES on a character boundary, with what the reason says of it. */
function reducedBody(text: string, bytes: number): { body: string; what: string } {
  if (bytes <= OVERSIZE_BODY_BYTES) return { body: text, what: 'its body whole' }
  const cut = Buffer.from(text).subarray(0, OVERSIZE_BODY_BYTES).toString('utf8')
  // The cut may end inside a character: its U+FFFD goes.
  const body = cut.endsWith('\ufffd') && !text.startsWith(cut) ? cut.slice(0, -1) : cut
  return { body, what: `its body cut to the first ${OVERSIZE_BODY_BYTES} bytes` }
}

const REDUCED = 'exported with only its type, uid and time as attributes and'
const SO_THAT = 'so that its request stays under what collectors take'

/** For an event text over OVERSIZE_EVENT_BYTES: its body (cut on a character boundary) and the malformed reason. */
function oversizeOf(text: string): { body: string; reason: string } | undefined {
  const bytes = Buffer.byteLength(text)
  if (bytes <= OVERSIZE_EVENT_BYTES) return undefined
  const { body, what } = reducedBody(text, bytes)
  return { body, reason: `event of ${bytes} bytes, over ${OVERSIZE_EVENT_BYTES}: ${REDUCED} ${what}, ${SO_THAT}` }
}

/** UTF-8 bytes of the strings among values (nested arrays included), or an upper bound of them. */
function stringBytes(values: readonly AnyValue[], exact: boolean): number {
  let n = 0
  for (const v of values) {
    if (typeof v === 'string') n += exact ? Buffer.byteLength(v) : v.length * 3
    else if (Array.isArray(v)) n += stringBytes(v, exact)
    else n += 24
  }
  return n
}

/**
 * Whether a record's keys, attribute values and body (`bodyText`: its text, also for a body kept as a map) pass
 * OVERSIZE_RECORD_BYTES: first an upper bound from string lengths (a few dozen additions an event), counted exactly
 * only when that bound passes.
 */
function recordTooLarge(attributes: AttributeList | AnyValueMap, bodyText: string): boolean {
  const keys = attributes instanceof AttributeList ? attributes.keys : Object.keys(attributes)
  const values = attributes instanceof AttributeList ? attributes.values : Object.values(attributes)
  if (stringBytes(keys, false) + stringBytes(values, false) + bodyText.length * 3 <= OVERSIZE_RECORD_BYTES) return false
  return stringBytes(keys, true) + stringBytes(values, true) + Buffer.byteLength(bodyText) > OVERSIZE_RECORD_BYTES
}

function bodyOf(event: JsonValue, mode: MappingOptions['body'], text: string | undefined): AnyValue {
  switch (mode) {
    case 'none':
      return undefined
    case 'map':
      // The event itself: JSON values are AnyValues (null included). Shared with the input, not copied, unless it
      // is more than MAX_DEPTH levels deep: then a copy with the deeper parts as JSON text (the SDK's serializers
      // recurse).
      return limitDepth(event, MAX_DEPTH) as AnyValue
    default:
      // The API's own text when the source has it (byte for byte: `0.0`, escapes, key order); else the event serialized.
      return text ?? safeJson(event)
  }
}

function mapObject(attrs: AttributeList, event: JsonObject, type: EventType, shape: AttributeShape, malformed: MalformedReason[]): void {
  const family = EVENT_FAMILY[type]
  const fields = COMPILED_FIELDS[family]
  const timeField = TIME_FIELD[family]
  for (const k in event) {
    const v = event[k]
    if (v === null || v === undefined) continue
    const f = fields.get(k)
    if (f === undefined) {
      // An unknown name can meet a flattened one (`messageParts.md5`) or ours (`event_type`).
      attrs.mayRepeat = true
      putAttribute(attrs, joinKey(ATTRIBUTE_PREFIX, k, ''), v, shape)
      continue
    }
    // The event time is checked once, as the Timestamp.
    if (k !== timeField) checkField(k, f.spec, v, malformed)
    // Flat shape: an array of objects lives under `<field>.<key>` keys; an empty one has no keys, and a bare
    // `<field>` key would clash with them in backends that expand dotted names (Elasticsearch, OpenSearch).
    if (shape === 'flat' && f.spec.kind === 'objectArray' && Array.isArray(v) && v.length === 0) continue
    const problem = putFieldAttribute(attrs, f.attributeKey, f.spec, v, shape)
    if (problem !== undefined) malformed.push(`${k}: ${problem}`)
  }
}

/**
 * Maps one event of the given type. `event` may be anything: a non-object still gives one record (its JSON as
 * body, reason `not an object`). `text`, when given, is the event's JSON text as the API sent it (JSON that parses
 * to `event`): the body in `json` mode, unchanged. The uid is the event's canonical form either way.
 */
export function mapEvent(event: JsonValue, type: EventType, opts: MappingOptions, observedAt: HrTime, text?: string): MappedRecord {
  const record = mapEventListed(event, type, opts, observedAt, text)
  const { attributes } = record
  if (attributes instanceof AttributeList) (record as unknown as MappedRecord).attributes = attributes.toMap()
  return record as unknown as MappedRecord
}

/**
 * mapEvent with the attributes as an AttributeList in the order they were set, for the protobuf encoder; as an
 * object when a key may repeat (then the object's rule decides: first place, last value).
 */
export function mapEventListed(event: JsonValue, type: EventType, opts: MappingOptions, observedAt: HrTime, text?: string): ListedRecord {
  try {
    const malformed: MalformedReason[] = []
    const uid = eventUid(event, type, text)
    const list = new AttributeList()
    let timestamp: HrTime | undefined
    let obj: JsonObject | undefined
    const oversize = text !== undefined && text.length > OVERSIZE_EVENT_BYTES / 3 ? oversizeOf(text) : undefined
    if (oversize !== undefined && isJsonObject(event)) {
      // Mapped as usual it would make a request over what collectors take (Fluent Bit closes the connection past
      // 4 MB, which looks like a network failure, retried for good): the essentials, counted malformed.
      obj = event
      timestamp = eventTime(event[TIME_FIELD[EVENT_FAMILY[type]]], TIME_FIELD[EVENT_FAMILY[type]], malformed)
      malformed.push(oversize.reason)
    } else if (isJsonObject(event)) {
      obj = event
      timestamp = eventTime(event[TIME_FIELD[EVENT_FAMILY[type]]], TIME_FIELD[EVENT_FAMILY[type]], malformed)
      const shape = opts.attributeShape === 'nested' ? 'nested' : 'flat'
      mapObject(list, event, type, shape, malformed)
      if (opts.standardFields) putStandardAttributes(list, event, EVENT_FAMILY[type], shape)
      if (opts.indicators) putIndicatorAttributes(list, event, EVENT_FAMILY[type])
    } else {
      malformed.push('not an object')
    }
    // The event's own strings only (the SDK cuts the uid too when the limit is below 64).
    const limit = opts.attributeValueLengthLimit
    let attributes: AttributeList | AnyValueMap
    let truncated = 0
    // Ours go first, so that an attribute count limit (OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT) drops the event's own
    // attributes before the dedup key a backend needs; and win, so that a vendor field spelled `event_type` cannot
    // replace them.
    if (list.mayRepeat) {
      const listed = list.toMap()
      if (limit !== undefined) truncated = limitStringLengths(listed, limit)
      const map: AnyValueMap = { [EVENT_TYPE_ATTRIBUTE]: type, [UID_ATTRIBUTE]: uid }
      for (const key in listed) if (key !== EVENT_TYPE_ATTRIBUTE && key !== UID_ATTRIBUTE) map[key] = listed[key]
      attributes = map
    } else {
      if (limit !== undefined) truncated = limitListStringLengths(list, limit)
      list.prepend(EVENT_TYPE_ATTRIBUTE, type, UID_ATTRIBUTE, uid)
      attributes = list
    }
    let body = oversize === undefined ? bodyOf(event, opts.body, text) : opts.body === 'none' ? undefined : oversize.body
    const bodyText = typeof body === 'string' ? body : body === undefined ? '' : text
    if (oversize === undefined && obj !== undefined && recordTooLarge(attributes, bodyText ?? safeJson(event))) {
      // Under the text's limit, but its attributes (a URL's derived parts) make it as large: reduced the same way.
      const full = text ?? safeJson(event)
      const bytes = Buffer.byteLength(full)
      const reduced = reducedBody(full, bytes)
      malformed.push(`event of ${bytes} bytes whose record would pass ${OVERSIZE_RECORD_BYTES}: ${REDUCED} ${reduced.what}, ${SO_THAT}`)
      attributes = new AttributeList()
      attributes.set(EVENT_TYPE_ATTRIBUTE, type)
      attributes.set(UID_ATTRIBUTE, uid)
      body = opts.body === 'none' ? undefined : reduced.body
      truncated = 0
    }
    const severity = severityOf(obj, type)
    const record: ListedRecord = {
      eventType: type,
      eventName: EVENT_NAMES[type],
      uid,
      observedTimestamp: observedAt,
      severityNumber: severity.number,
      severityText: severity.text,
      attributes,
      body,
      malformed,
    }
    if (timestamp !== undefined) record.timestamp = timestamp
    if (truncated > 0) record.truncated = truncated
    return record
  } catch (err) {
    return fallbackRecord(event, type, opts, observedAt, err, text)
  }
}

/**
 * For values no JSON parser produces (cycles, BigInt): a record that still goes out, with a random uid so that it
 * is never dropped as a duplicate of another.
 */
function fallbackRecord(event: unknown, type: EventType, opts: MappingOptions, observedAt: HrTime, err: unknown, text: string | undefined): MappedRecord {
  const uid = randomUUID()
  let body: AnyValue
  if (opts.body !== 'none') {
    try {
      body = text ?? safeJson(event)
    } catch {
      body = '<unserializable>'
    }
  }
  const severity = severityOf(undefined, type)
  return {
    eventType: type,
    eventName: EVENT_NAMES[type] ?? `proofpoint.${String(type)}`,
    uid,
    observedTimestamp: observedAt,
    severityNumber: severity?.number ?? 0,
    severityText: severity?.text ?? '',
    attributes: { [EVENT_TYPE_ATTRIBUTE]: type, [UID_ATTRIBUTE]: uid },
    body,
    malformed: [`mapping failed: ${err instanceof Error ? err.message : String(err)}`],
  }
}

/** Maps every event of a response (with its text, when the response has them), in `EVENT_TYPES` order, then the order received. */
export function mapResponse(response: SiemResponse, opts: MappingOptions, observedAt: HrTime): MappedRecord[] {
  const out: MappedRecord[] = []
  for (const type of EVENT_TYPES) {
    const events = response.events[type] as JsonValue[] | undefined
    if (!Array.isArray(events)) continue
    const texts = response.texts?.[type]
    for (let i = 0; i < events.length; i++) {
      const text = texts?.[i]
      const record = mapEvent(events[i] as JsonValue, type, opts, observedAt, text)
      if (text !== undefined && response.invalidUtf8?.has(text) === true) record.malformed.push(INVALID_UTF8_REASON)
      out.push(record)
    }
  }
  return out
}

/**
 * Property-based tests of the mapper (issue 7): arbitrary JSON in every field position of message and click events,
 * and arbitrary values as whole events. The mapper never throws, every attribute is a valid OTLP AnyValue, every
 * event gives one record, and the records go through the SDK and its protobuf and JSON serializers.
 *
 * Seed policy: one seed per run, random unless FC_SEED is set, printed as a TAP comment before the properties run
 * and again in the failure message (with the counterexample and its shrink path). Reproduce with
 * `FC_SEED=<seed> npx tap dist/test/mapping/fuzz-mapping.test.js`. FC_NUM_RUNS overrides the runs per property (200).
 */
import t from 'tap'
import fc from 'fast-check'
import type { AnyValueMap } from '@opentelemetry/api-logs'
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer'
import { CLICK_FIELDS, MESSAGE_FIELDS, MESSAGE_PART_KEYS, THREAT_INFO_KEYS, mapEvent, mapResponse } from '../../src/mapping/index.js'
import { mapEventListed } from '../../src/mapping/map-event.js'
import type { MappedRecord, MappingOptions } from '../../src/mapping/index.js'
import { SdkRecordFactory } from '../../src/export/sdk-records.js'
import { OtlpProtoLogsEncoder } from '../../src/export/otlp-proto-encoder.js'
import { SCOPE_NAME } from '../../src/export/resource.js'
import { EVENT_TYPES } from '../../src/siem/types.js'
import type { EventType, JsonValue, SiemResponse } from '../../src/siem/types.js'
import { decodeLogRecords } from '../helpers/otlp-sink.js'

const SEED = process.env.FC_SEED !== undefined && process.env.FC_SEED !== '' ? Number(process.env.FC_SEED) : (Date.now() ^ (Math.random() * 0x100000000)) | 0
const NUM_RUNS = Number(process.env.FC_NUM_RUNS ?? 200)
t.comment(`fast-check seed ${SEED} (FC_SEED=${SEED} to reproduce), ${NUM_RUNS} runs per property`)

const prototypeKeysBefore = Object.getOwnPropertyNames(Object.prototype).sort()

/** Runs one property; a failure is a TAP failure whose message carries fast-check's report (seed, path, counterexample). */
function property(name: string, prop: fc.IProperty<never> | fc.IProperty<unknown[]>): void {
  const started = Date.now()
  try {
    fc.assert(prop as fc.IProperty<unknown[]>, { seed: SEED, numRuns: NUM_RUNS, endOnFailure: false, includeErrorInReport: true })
    t.pass(`${name} (${NUM_RUNS} runs, ${Date.now() - started} ms)`)
  } catch (err) {
    t.fail(`${name}: ${err instanceof Error ? err.message : String(err)}`)
  }
}

// ---------------------------------------------------------------- arbitraries

const SPECIAL_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '', '.', 'a.b', 'proofpoint.event_type', 'log.record.uid']
const FIELD_KEYS = [...new Set([...Object.keys(MESSAGE_FIELDS), ...Object.keys(CLICK_FIELDS), ...Object.keys(MESSAGE_PART_KEYS), ...Object.keys(THREAT_INFO_KEYS)])]
const NASTY_CHARS = ['\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\u0000', '\u0001', '\u001f', '\u007f', '\u0085', '\u2028', '\u2029', '\uFEFF', '\uFFFF', '"', '\\', '😀']

/** Strings with lone surrogates, controls and astral characters mixed in. */
const nastyString = fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom(...NASTY_CHARS)), { maxLength: 6 }).map((parts) => parts.join(''))
const str = fc.oneof({ weight: 3, arbitrary: fc.string({ maxLength: 12 }) }, { weight: 2, arbitrary: nastyString }, { weight: 1, arbitrary: fc.constantFrom('2026-08-08T21:28:29.119Z', '2026-02-30T00:00:00Z', 'not a time', '') })
const key = fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...SPECIAL_KEYS, ...FIELD_KEYS) }, { weight: 2, arbitrary: fc.string({ maxLength: 8 }) }, { weight: 1, arbitrary: nastyString })
const num = fc.oneof(
  fc.integer(),
  fc.double(), // NaN and ±Infinity too: JSON turns them into null, as a parser would never produce them
  fc.constantFrom(2 ** 53, 2 ** 53 + 2, -(2 ** 53) - 2, 2 ** 63, 2 ** 64, 1e21, 1e300, -1e300, 5e-324, -0, 0.5, Number.MAX_SAFE_INTEGER, Number.MAX_VALUE),
)
const scalar: fc.Arbitrary<JsonValue> = fc.oneof(str, num, fc.boolean(), fc.constant(null))

/** An object with arbitrary keys (`__proto__` an own member, as JSON.parse makes it). */
const objectOf = (value: fc.Arbitrary<JsonValue>): fc.Arbitrary<JsonValue> =>
  fc.array(fc.tuple(key, value), { maxLength: 5 }).map((entries) => {
    const o: Record<string, JsonValue> = {}
    for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
    return o
  })

const { json } = fc.letrec<{ json: JsonValue }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('json'), { maxLength: 5 }),
    objectOf(tie('json')),
    // Arrays of objects: the `messageParts` / `threatsInfoMap` shape, with known keys.
    fc.array(fc.oneof(objectOf(tie('json')), fc.constant(null)), { maxLength: 4 }),
  ),
}))

/** What a JSON parser would give: the value through JSON text (NaN → null, -0 → 0, undefined members gone). */
const parsed = (v: unknown): JsonValue => JSON.parse(JSON.stringify(v) ?? 'null') as JsonValue

/** Optional arbitrary values for the given keys. */
function fieldsOf(keys: readonly string[]): fc.Arbitrary<Partial<Record<string, JsonValue>>> {
  return fc.record(Object.fromEntries(keys.map((k) => [k, json])), { requiredKeys: [] })
}

const messagePart = fc.oneof(fieldsOf(Object.keys(MESSAGE_PART_KEYS)), json)
const threatInfo = fc.oneof(fieldsOf(Object.keys(THREAT_INFO_KEYS)), json)

/** A message event: every known field optional with any value; known sub-fields of the arrays too; extra keys. */
const messageEvent: fc.Arbitrary<JsonValue> = fc
  .tuple(
    fieldsOf(Object.keys(MESSAGE_FIELDS)),
    fc.option(fc.array(messagePart, { maxLength: 3 }), { nil: undefined }),
    fc.option(fc.array(threatInfo, { maxLength: 3 }), { nil: undefined }),
    objectOf(json),
  )
  .map(([fields, parts, threats, extra]) => parsed({ ...(extra as object), ...fields, ...(parts ? { messageParts: parts } : {}), ...(threats ? { threatsInfoMap: threats } : {}) }))
const clickEvent: fc.Arbitrary<JsonValue> = fc.tuple(fieldsOf(Object.keys(CLICK_FIELDS)), objectOf(json)).map(([fields, extra]) => parsed({ ...(extra as object), ...fields }))
const anyEvent: fc.Arbitrary<JsonValue> = json.map(parsed)

/**
 * Names chosen to meet once prefixed and flattened: `a` with a member `b` and a field `a.b`, a vendor `event_type`,
 * `messageParts.md5` beside the parts' md5 column, and a lone surrogate beside its escaped text.
 */
const MEETING_KEYS = ['a', 'b', 'a.b', 'b.a', 'event_type', 'messageParts', 'messageParts.md5', 'md5', 'x\uD800', 'x\\ud800', 'x\\uD800', 'subject', 'subject.x', 'x']
const meetingKey = fc.constantFrom(...MEETING_KEYS)
const meetingObject = (value: fc.Arbitrary<JsonValue>): fc.Arbitrary<JsonValue> =>
  fc.array(fc.tuple(meetingKey, value), { maxLength: 6 }).map((entries) => Object.fromEntries(entries) as JsonValue)
const meetingValue: fc.Arbitrary<JsonValue> = fc.oneof(scalar, meetingObject(scalar), fc.array(meetingObject(scalar), { maxLength: 3 }))
const meetingEvent: fc.Arbitrary<JsonValue> = fc
  .oneof(
    meetingObject(meetingValue),
    // Known fields only (no unknown name to flag the event): members that meet inside them.
    fc.record({ messageParts: fc.array(meetingObject(scalar), { maxLength: 3 }), subject: meetingObject(scalar), threatsInfoMap: fc.array(meetingObject(scalar), { maxLength: 2 }) }, { requiredKeys: [] }),
  )
  .map(parsed)

const options: fc.Arbitrary<MappingOptions> = fc.record({
  attributeShape: fc.constantFrom('flat' as const, 'nested' as const),
  body: fc.constantFrom('json' as const, 'map' as const, 'none' as const),
  attributeValueLengthLimit: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
})
const messageType = fc.constantFrom<EventType>('messagesDelivered', 'messagesBlocked')
const clickType = fc.constantFrom<EventType>('clicksPermitted', 'clicksBlocked')
const eventType = fc.constantFrom<EventType>(...EVENT_TYPES)

// ---------------------------------------------------------------- checks

const OBSERVED: [number, number] = [1_790_000_000, 0]

/** Why `v` is not a valid attribute value in the given shape, or undefined. */
function invalid(v: unknown, shape: 'flat' | 'nested', path: string, depth: number): string | undefined {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return undefined
    case 'number':
      return Number.isFinite(v) ? undefined : `${path}: non-finite number ${v}`
    case 'object': {
      if (v === null) return `${path}: null`
      if (depth > 40) return `${path}: deeper than the depth limit`
      if (Array.isArray(v)) {
        if (shape === 'flat') {
          const types = new Set(v.map((x) => typeof x))
          if (types.size > 1) return `${path}: mixed array in flat shape (${[...types].join(', ')})`
          for (let i = 0; i < v.length; i++) {
            const el: unknown = v[i]
            if (typeof el === 'object') return `${path}[${i}]: ${el === null ? 'null' : 'object'} in a flat array`
            const p = invalid(el, shape, `${path}[${i}]`, depth + 1)
            if (p !== undefined) return p
          }
          return undefined
        }
        for (let i = 0; i < v.length; i++) {
          const p = invalid(v[i], shape, `${path}[${i}]`, depth + 1)
          if (p !== undefined) return p
        }
        return undefined
      }
      if (shape === 'flat') return `${path}: map in flat shape`
      if (Object.getPrototypeOf(v) !== Object.prototype) return `${path}: map with a prototype other than Object.prototype`
      for (const k of Object.keys(v)) {
        const d = Object.getOwnPropertyDescriptor(v, k)
        if (d === undefined || !('value' in d)) return `${path}.${k}: not a data member`
        const p = invalid(d.value, shape, `${path}.${k}`, depth + 1)
        if (p !== undefined) return p
      }
      return undefined
    }
    default:
      return `${path}: ${typeof v}`
  }
}

function checkAttributes(attrs: AnyValueMap, shape: 'flat' | 'nested'): void {
  if (Object.getPrototypeOf(attrs) !== Object.prototype) throw new Error('attributes: prototype changed')
  for (const k of Object.keys(attrs)) {
    const d = Object.getOwnPropertyDescriptor(attrs, k)
    if (d === undefined || !('value' in d)) throw new Error(`attribute ${k}: not a data member`)
    const p = invalid(d.value, shape, k, 0)
    if (p !== undefined) throw new Error(`attribute ${p}`)
  }
}

/** A string as the UTF-8 encoder writes it: lone surrogates become U+FFFD. */
const wellFormed = (s: string): string => s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
const fatalUtf8 = new TextDecoder('utf-8', { fatal: true })

const factory = new SdkRecordFactory({ serviceName: 'fuzz', serviceVersion: '0.0.0', resourceAttributes: {} })
t.teardown(() => factory.shutdown())
const encoder = new OtlpProtoLogsEncoder({ resourceAttributes: factory.resource.attributes, scope: { name: SCOPE_NAME, version: '0.0.0' } })

/** Whether an own `__proto__` key is anywhere below the top level of the attributes. */
function hasProtoKey(v: unknown, depth = 0): boolean {
  if (typeof v !== 'object' || v === null) return false
  if (depth > 0 && !Array.isArray(v) && Object.prototype.hasOwnProperty.call(v, '__proto__')) return true
  return Object.values(v).some((x) => hasProtoKey(x, depth + 1))
}

/** Through the SDK and both serializers: nothing throws, nothing is dropped, the strings arrive well-formed. */
function checkSerializes(record: MappedRecord): void {
  const sdk = factory.toSdkRecords([record])
  const sdkAttrs = (sdk[0] as { attributes: Record<string, unknown> }).attributes
  const expected = Math.min(Object.keys(record.attributes).length, 128)
  if (Object.keys(sdkAttrs).length !== expected) throw new Error(`the SDK kept ${Object.keys(sdkAttrs).length} of ${expected} attributes (invalid values dropped?)`)
  const proto = ProtobufLogsSerializer.serializeRequest(sdk)
  const jsonBytes = JsonLogsSerializer.serializeRequest(sdk)
  if (proto === undefined || jsonBytes === undefined) throw new Error('a serializer gave nothing')
  // The receiver sends protobuf through its own encoder: it must write the SDK's bytes, except that the SDK loses an
  // own `__proto__` key inside an attribute map (it copies maps by assignment) and ours keeps it.
  const ours = encoder.encodeRequest([record]).body
  if (hasProtoKey(record.attributes)) {
    if (decodeLogRecords(ours, 'protobuf').length !== 1) throw new Error('OtlpProtoLogsEncoder: the record does not decode')
  } else if (!ours.equals(proto)) {
    throw new Error('OtlpProtoLogsEncoder and the SDK encode the record differently')
  }
  fatalUtf8.decode(jsonBytes) // throws on invalid UTF-8
  const [decoded] = decodeLogRecords(Buffer.from(proto), 'protobuf')
  if (decoded === undefined) throw new Error('protobuf: no record decoded')
  for (const [k, v] of Object.entries(sdkAttrs)) {
    if (typeof v !== 'string') continue
    const got = decoded.attributes[wellFormed(k)]
    if (got !== wellFormed(v)) throw new Error(`protobuf round trip of ${JSON.stringify(k)}: ${JSON.stringify(got)} ≠ ${JSON.stringify(wellFormed(v))}`)
  }
}

function checkRecord(event: JsonValue, type: EventType, opts: MappingOptions): boolean {
  const r = mapEvent(event, type, opts, OBSERVED)
  if (r.eventType !== type) throw new Error('wrong event type')
  if (!/^[0-9a-f]{64}$/.test(r.uid)) throw new Error(`uid ${r.uid} is not a SHA-256 (mapping failed: ${r.malformed.join('; ')})`)
  if (r.malformed.some((m) => m.startsWith('mapping failed'))) throw new Error(r.malformed.join('; '))
  checkAttributes(r.attributes, opts.attributeShape)
  if (opts.attributeValueLengthLimit !== undefined) {
    const limit = opts.attributeValueLengthLimit
    // The event's strings; our own event_type and uid are left to the SDK.
    const own = { ...r.attributes, 'proofpoint.event_type': '', 'log.record.uid': '' }
    const tooLong = JSON.stringify(own, (_k, v: unknown) => (typeof v === 'string' && v.length > limit ? '<too long>' : v)).includes('"<too long>"')
    if (tooLong) throw new Error('a string longer than the limit')
  }
  if (opts.body === 'none' ? r.body !== undefined : r.body === undefined) throw new Error('body presence')
  checkSerializes(r)
  // What the worker threads encode: the attributes as the mapper's list (or the object, where keys can repeat).
  const listed = mapEventListed(event, type, opts, OBSERVED)
  const one = (rec: MappedRecord | typeof listed): Buffer => {
    const w = encoder.recordsWriter(1)
    w.add(rec)
    return Buffer.from(w.end().bytes)
  }
  if (!one(listed).equals(one(r))) throw new Error('the attribute list encodes differently from the attribute object')
  if (listed.truncated !== r.truncated) throw new Error(`truncated: ${listed.truncated} as a list, ${r.truncated} as an object`)
  return true
}

// ---------------------------------------------------------------- properties

property(
  'message events with any value in any field',
  fc.property(messageEvent, messageType, options, (e, type, opts) => checkRecord(e, type, opts)),
)
property(
  'click events with any value in any field',
  fc.property(clickEvent, clickType, options, (e, type, opts) => checkRecord(e, type, opts)),
)
property(
  'any JSON value as an event, of any type',
  fc.property(anyEvent, eventType, options, (e, type, opts) => checkRecord(e, type, opts)),
)
property(
  'events whose attribute names meet (the list falls back to the object)',
  fc.property(meetingEvent, eventType, options, (e, type, opts) => checkRecord(e, type, opts)),
)
property(
  'one record per event, in order, and the same uid for the same event',
  fc.property(fc.array(fc.oneof(messageEvent, clickEvent, anyEvent), { maxLength: 8 }), eventType, options, (events, type, opts) => {
    const response = { queryEndTime: '2026-08-08T21:28:29Z', events: { [type]: events } } as unknown as SiemResponse
    const records = mapResponse(response, opts, OBSERVED)
    if (records.length !== events.length) throw new Error(`${records.length} records for ${events.length} events`)
    records.forEach((r, i) => {
      const again = mapEvent(parsed(events[i]), type, opts, OBSERVED)
      if (again.uid !== r.uid) throw new Error(`event ${i}: uid not stable`)
    })
    return true
  }),
)

t.test('no prototype pollution after the whole run', async (t) => {
  t.same(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeKeysBefore, 'Object.prototype has no new keys')
  t.equal(({} as Record<string, unknown>).polluted, undefined)
  t.equal(({} as Record<string, unknown>).constructor, Object)
})

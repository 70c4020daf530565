/**
 * Our OTLP/protobuf encoder against the SDK (LoggerProvider + ProtobufLogsSerializer): the same bytes for the same
 * records, on the fixture events in every mapping mode, on fuzzed records of every AnyValue shape (and values that are
 * not AnyValues), with and without attribute limits. Seed policy as in fuzz-mapping.test.ts (FC_SEED, FC_NUM_RUNS).
 */
import t from 'tap'
import fc from 'fast-check'
import { readFileSync } from 'node:fs'
import type { AnyValue, AnyValueMap } from '@opentelemetry/api-logs'
import type { LogRecordLimits } from '@opentelemetry/sdk-logs'
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer'
import { OtlpProtoLogsEncoder } from '../../src/export/otlp-proto-encoder.js'
import { SdkRecordFactory } from '../../src/export/sdk-records.js'
import { SCOPE_NAME } from '../../src/export/resource.js'
import { mapResponse } from '../../src/mapping/index.js'
import type { AttributeShape, BodyMode, HrTime } from '../../src/mapping/index.js'
import type { LogRecordParts } from '../../src/mapping/types.js'
import { EVENT_TYPES } from '../../src/siem/types.js'
import type { EventType, JsonValue } from '../../src/siem/types.js'
import { decodeLogRecords } from '../helpers/otlp-sink.js'

const SEED = process.env.FC_SEED !== undefined && process.env.FC_SEED !== '' ? Number(process.env.FC_SEED) : (Date.now() ^ (Math.random() * 0x100000000)) | 0
const NUM_RUNS = Number(process.env.FC_NUM_RUNS ?? 300)
t.comment(`fast-check seed ${SEED} (FC_SEED=${SEED} to reproduce), ${NUM_RUNS} runs per property`)

const RESOURCE = { serviceName: 'enc', serviceVersion: '1.2.3', resourceAttributes: { 'deployment.environment': 'test', 'k8s.pod.name': 'p'.repeat(200) } }

/** The SDK's bytes and ours for the same records and limits. */
function both(records: LogRecordParts[], limits: LogRecordLimits = {}): { sdk: Buffer; ours: Buffer; oursDropped: number[]; sdkDropped: number[] } {
  const factory = new SdkRecordFactory({ ...RESOURCE, logRecordLimits: limits })
  const sdkRecords = factory.toSdkRecords(records)
  const sdkBytes = ProtobufLogsSerializer.serializeRequest(sdkRecords) ?? new Uint8Array(0)
  void factory.shutdown()
  const encoder = new OtlpProtoLogsEncoder({ resourceAttributes: factory.resource.attributes, scope: { name: SCOPE_NAME, version: RESOURCE.serviceVersion }, ...limits })
  const { body, droppedAttributes } = encoder.encodeRequest(records)
  return { sdk: Buffer.from(sdkBytes), ours: body, oursDropped: droppedAttributes, sdkDropped: sdkRecords.map((r) => r.droppedAttributesCount) }
}

const raw = JSON.parse(readFileSync(new URL('../../../test/fixtures/siem-all-response.json', import.meta.url), 'utf8')) as Record<string, JsonValue[]>
const fixture = { events: Object.fromEntries(EVENT_TYPES.map((type) => [type, raw[type] ?? []])) as Record<EventType, JsonValue[]> }
const OBSERVED: HrTime = [1_790_000_000, 123_456_789]

t.test('the fixture events in every mapping mode: the same bytes as the SDK', (t) => {
  for (const attributeShape of ['flat', 'nested'] as AttributeShape[]) {
    for (const body of ['json', 'map', 'none'] as BodyMode[]) {
      const records = mapResponse(fixture, { attributeShape, body }, OBSERVED)
      t.ok(records.length >= 4, `${records.length} records`)
      const { sdk, ours } = both(records)
      t.ok(ours.equals(sdk), `${attributeShape}/${body}: ${ours.length} bytes, SDK ${sdk.length}`)
      t.equal(decodeLogRecords(ours, 'protobuf').length, records.length, 'the sink decodes every record')
    }
  }
  t.end()
})

t.test('no records: an empty body, as the SDK sends', (t) => {
  const { sdk, ours } = both([])
  t.equal(ours.length, 0)
  t.equal(sdk.length, 0)
  t.end()
})

const record = (attributes: AnyValueMap, body?: AnyValue, extra: Partial<LogRecordParts> = {}): LogRecordParts => ({
  eventName: 'proofpoint.message.delivered',
  uid: 'u',
  timestamp: [1_780_000_000, 5],
  observedTimestamp: OBSERVED,
  severityNumber: 9,
  severityText: 'INFO',
  attributes,
  ...(body === undefined ? {} : { body }),
  ...extra,
})

t.test('string lengths around the length-prefix boundaries, ASCII and not, lone surrogates', (t) => {
  const lengths = [0, 1, 41, 42, 43, 44, 127, 128, 129, 5461, 5462, 16383, 16384, 70000]
  for (const n of lengths) {
    for (const fill of ['a', 'é', '€', '😀', '\uD800', 'a\uDC00']) {
      const s = fill.repeat(Math.ceil(n / fill.length)).slice(0, n)
      const { sdk, ours } = both([record({ [s.slice(0, 50)]: s, k: [s, s] }, s)])
      if (!ours.equals(sdk)) t.fail(`length ${n} of ${JSON.stringify(fill)}: bytes differ`)
    }
  }
  t.pass(`${lengths.length * 6} strings`)
  t.end()
})

t.test('numbers, times and the fields the SDK omits', (t) => {
  const numbers = [0, 1, -1, 127, 128, 2 ** 31, -(2 ** 31), 2 ** 32, -(2 ** 32) - 1, 2 ** 53, -(2 ** 53), 2 ** 62, -(2 ** 63), 2 ** 63, 2 ** 64, 0.5, -0, NaN, Infinity, -Infinity, 1e300]
  const { sdk, ours } = both(numbers.map((n, i) => record({ n, [`i${i}`]: [n] }, n, { timestamp: [i * 1e8, i * 7] })))
  t.ok(ours.equals(sdk), 'int64 and double values, timestamps from 0 to 2e9 s')
  const omitted = both([
    record({}, undefined, { severityText: '', eventName: '', severityNumber: 0 }),
    record({ a: null, b: undefined }, null, { timestamp: undefined as unknown as HrTime }),
    record({ bytes: new Uint8Array([0, 1, 255]) }, new Uint8Array(300)),
  ])
  t.ok(omitted.ours.equals(omitted.sdk), 'empty severity text and event name, severity 0, null and undefined values, bytes')
  t.end()
})

t.test('attributes that are not AnyValues are left out; the count limit drops and counts; the length limit cuts', (t) => {
  class Thing {
    x = 1
  }
  const cyclic: Record<string, unknown> = { a: 1 }
  cyclic.self = cyclic
  const attrs = {
    ok: 'yes',
    '': 'empty key',
    fn: (() => 1) as unknown as AnyValue,
    big: 10n as unknown as AnyValue,
    sym: Symbol('s') as unknown as AnyValue,
    date: new Date(0) as unknown as AnyValue,
    thing: new Thing() as unknown as AnyValue,
    nestedBad: [1, [2, (() => 3) as unknown as AnyValue]],
    cyclic: cyclic as AnyValue,
    long: 'x'.repeat(100),
    longs: ['y'.repeat(100), { z: 'z'.repeat(100) }],
    after: 1,
  }
  const body = { fn: (() => 1) as unknown as AnyValue, date: new Date(0) as unknown as AnyValue, list: [(() => 1) as unknown as AnyValue, 1] }
  for (const limits of [{}, { attributeCountLimit: 2 }, { attributeValueLengthLimit: 10 }, { attributeCountLimit: 0 }, { attributeValueLengthLimit: 0 }, { attributeCountLimit: 3, attributeValueLengthLimit: 1 }]) {
    const { sdk, ours, sdkDropped, oursDropped } = both([record(attrs, body)], limits)
    t.ok(ours.equals(sdk), `${JSON.stringify(limits)}: same bytes`)
    t.same(oursDropped, sdkDropped, `${JSON.stringify(limits)}: dropped ${sdkDropped.join()}`)
  }
  t.end()
})

t.test('an own __proto__ key, as an attribute and inside a map: kept (the SDK loses it when copying into a plain object)', (t) => {
  const own = (value: AnyValue): AnyValueMap => {
    const o: AnyValueMap = {}
    Object.defineProperty(o, '__proto__', { value, enumerable: true, writable: true, configurable: true })
    return o
  }
  const attrs = own('kept')
  attrs.other = 1
  attrs.map = own({ inner: 'kept too' })
  const { ours, sdk } = both([record(attrs)])
  const [decoded] = decodeLogRecords(ours, 'protobuf')
  const ownValue = (o: unknown): unknown => Object.getOwnPropertyDescriptor(o ?? {}, '__proto__')?.value
  t.equal(ownValue(decoded?.attributes), 'kept')
  t.equal(decoded?.attributes.other, 1)
  t.same(ownValue(decoded?.attributes.map), { inner: 'kept too' })
  const [viaSdk] = decodeLogRecords(sdk, 'protobuf')
  t.equal(ownValue(viaSdk?.attributes.map), undefined, 'the SDK drops it (if this fails, the SDK was fixed: the encoders agree again)')
  t.end()
})

// ---------------------------------------------------------------- fuzzed records

const NASTY = ['\uD800', '\uDFFF', '\u0000', '\u007f', '\u0085', '\u2028', '\uFFFF', '"', '😀', 'é', '€']
const str = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 2, arbitrary: fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 5 }), fc.constantFrom(...NASTY)), { maxLength: 8 }).map((p) => p.join('')) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', 'é', '😀'), fc.integer({ min: 40, max: 300 })).map(([c, n]) => c.repeat(n)) },
)
const num = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(2 ** 53 + 2, -(2 ** 63), 2 ** 63, -1, 2 ** 40, -(2 ** 40)))
const invalidValue = fc.constantFrom<unknown>(() => 1, 1n, new Date(1), Symbol('x'))
const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('', 'constructor', 'toString', '0', '1', 'a.b'))
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    str,
    num,
    fc.boolean(),
    fc.constantFrom(null, undefined),
    fc.uint8Array({ maxLength: 10 }),
    { weight: 1, arbitrary: invalidValue },
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4 }),
  ),
}))
const attributes = fc.dictionary(key, value, { maxKeys: 12 }) as fc.Arbitrary<AnyValueMap>
const time: fc.Arbitrary<HrTime> = fc.tuple(fc.integer({ min: 0, max: 4_000_000_000 }), fc.integer({ min: 0, max: 999_999_999 }))
const parts: fc.Arbitrary<LogRecordParts> = fc.record({
  eventName: str,
  uid: fc.constant('u'),
  timestamp: time,
  observedTimestamp: time,
  severityNumber: fc.integer({ min: 0, max: 24 }),
  severityText: str,
  attributes,
  body: value as fc.Arbitrary<AnyValue>,
})
const limits: fc.Arbitrary<LogRecordLimits> = fc.record(
  { attributeCountLimit: fc.integer({ min: 0, max: 10 }), attributeValueLengthLimit: fc.integer({ min: 0, max: 30 }) },
  { requiredKeys: [] },
)

t.test('fuzzed records: the same bytes and dropped counts as the SDK', (t) => {
  const started = Date.now()
  try {
    fc.assert(
      fc.property(fc.array(parts, { minLength: 1, maxLength: 5 }), limits, (records, lim) => {
        const { sdk, ours, sdkDropped, oursDropped } = both(records, lim)
        if (!ours.equals(sdk)) throw new Error(`bytes differ: ours ${ours.length}, SDK ${sdk.length}`)
        if (oursDropped.join() !== sdkDropped.join()) throw new Error(`dropped ${oursDropped.join()} ≠ SDK ${sdkDropped.join()}`)
      }),
      { seed: SEED, numRuns: NUM_RUNS, includeErrorInReport: true },
    )
    t.pass(`${NUM_RUNS} runs, ${Date.now() - started} ms`)
  } catch (err) {
    t.fail(err instanceof Error ? err.message : String(err))
  }
  t.end()
})

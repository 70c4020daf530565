/**
 * Hostile events, case by case (issue 7, item 1): prototype keys, deep nesting, long strings, lone surrogates and
 * controls, numbers beyond 2^53, mixed arrays, duplicate keys. The property-based suite is fuzz-mapping.test.ts.
 */
import t from 'tap'
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer'
import { canonicalJson, eventUid, mapEvent } from '../../src/mapping/index.js'
import type { MappedRecord, MappingOptions } from '../../src/mapping/index.js'
import { MAX_FLAT_COLUMNS } from '../../src/mapping/attributes.js'
import { MAX_DEPTH, safeJson } from '../../src/mapping/safe-json.js'
import { SdkRecordFactory } from '../../src/export/sdk-records.js'
import type { EventType, JsonValue } from '../../src/siem/types.js'
import { decodeLogRecords } from '../helpers/otlp-sink.js'

const OBSERVED: [number, number] = [1_790_000_000, 0]
const FLAT: MappingOptions = { attributeShape: 'flat', body: 'json' }
const NESTED: MappingOptions = { attributeShape: 'nested', body: 'map' }
const map = (e: JsonValue, opts: MappingOptions = FLAT, type: EventType = 'messagesDelivered'): MappedRecord => mapEvent(e, type, opts, OBSERVED)
const TIME = '2026-08-08T21:28:29.119Z'

const factory = new SdkRecordFactory({ serviceName: 'hostile', serviceVersion: '0.0.0', resourceAttributes: {} })
t.teardown(() => factory.shutdown())
const protobuf = (r: MappedRecord): Uint8Array => ProtobufLogsSerializer.serializeRequest(factory.toSdkRecords([r])) as Uint8Array
const decoded = (r: MappedRecord) => decodeLogRecords(Buffer.from(protobuf(r)), 'protobuf')[0]!

t.test('__proto__, constructor and prototype keys: data, never a prototype', (t) => {
  const before = Object.getOwnPropertyNames(Object.prototype).sort()
  const text = `{"messageTime":"${TIME}","__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}},"prototype":"p",
    "subject":"s","x":{"__proto__":{"polluted":3},"constructor":"c","prototype":{"__proto__":{"polluted":4}}},
    "messageParts":[{"__proto__":{"polluted":5},"constructor":"c","filename":"f"}],"threatsInfoMap":[{"constructor":{"polluted":6}}]}`
  for (const opts of [FLAT, NESTED, { attributeShape: 'nested', body: 'json' } as const, { attributeShape: 'flat', body: 'map' } as const]) {
    const r = map(JSON.parse(text) as JsonValue, opts)
    t.same(r.malformed, [], `${opts.attributeShape}/${opts.body}: well-formed`)
    t.equal(Object.getPrototypeOf(r.attributes), Object.prototype)
    t.ok(Object.hasOwn(r.attributes, 'proofpoint.prototype'))
    const d = decoded(r)
    t.equal(d.attributes['proofpoint.prototype'], 'p', 'the attribute arrives')
    if (opts.attributeShape === 'flat') {
      t.equal(r.attributes['proofpoint.__proto__.polluted'], 1)
      t.equal(r.attributes['proofpoint.constructor.prototype'], '{"polluted":2}')
      t.equal(r.attributes['proofpoint.x.__proto__'], '{"polluted":3}')
      t.same(r.attributes['proofpoint.messageParts.__proto__'], ['{"polluted":5}'])
      t.same(r.attributes['proofpoint.messageParts.constructor'], ['c'])
    } else {
      const proto = r.attributes['proofpoint.__proto__'] as Record<string, unknown>
      t.equal(Object.getPrototypeOf(proto), Object.prototype, 'a __proto__ map is a plain map')
      t.same(Object.getOwnPropertyDescriptor(proto, 'polluted')?.value, 1)
      // A map with a `constructor` member is JSON text: the SDK would drop it as a map.
      t.same(r.attributes['proofpoint.constructor'], { prototype: { polluted: 2 } }, 'a `constructor` field is a map like any other')
      t.equal(r.attributes['proofpoint.x'], '{"__proto__":{"polluted":3},"constructor":"c","prototype":{"__proto__":{"polluted":4}}}')
      t.equal(d.attributes['proofpoint.x'], r.attributes['proofpoint.x'], 'and arrives')
      t.ok(d.attributes['proofpoint.__proto__'] !== undefined, 'the __proto__ map arrives')
    }
  }
  t.same(Object.getOwnPropertyNames(Object.prototype).sort(), before, 'Object.prototype unchanged')
  t.equal(({} as Record<string, unknown>).polluted, undefined)
  t.end()
})

function deep(levels: number, leaf = '"leaf"'): string {
  let s = leaf
  for (let i = 0; i < levels; i++) s = i % 2 === 0 ? `[${s}]` : `{"k":${s}}`
  return s
}

t.test('10,000 levels deep: no stack overflow, a stable uid, the rest kept as JSON text', (t) => {
  const text = `{"messageTime":"${TIME}","subject":"s","deep":${deep(10_000)}}`
  for (const opts of [FLAT, NESTED, { attributeShape: 'nested', body: 'json' } as const, { attributeShape: 'flat', body: 'none' } as const]) {
    const r = map(JSON.parse(text) as JsonValue, opts)
    t.same(r.malformed, [], `${opts.attributeShape}/${opts.body}: no 'mapping failed'`)
    t.match(r.uid, /^[0-9a-f]{64}$/)
    t.equal(r.uid, map(JSON.parse(text) as JsonValue, opts).uid, 'the uid is the event’s, not random')
    const attr = r.attributes['proofpoint.deep']
    if (opts.attributeShape === 'flat') t.equal(r.attributes['proofpoint.deep.k'], deep(9_999), 'flat: one level, then JSON text')
    else {
      // Walk the kept structure: MAX_DEPTH levels, then a string.
      let v: unknown = attr
      let levels = 0
      while (typeof v === 'object' && v !== null) {
        v = Array.isArray(v) ? v[0] : (v as Record<string, unknown>).k
        levels++
      }
      t.equal(levels, MAX_DEPTH, `nested: ${MAX_DEPTH} levels kept`)
      t.type(v, 'string')
      t.equal((v as string).length > 10_000, true, 'then the rest as JSON text')
    }
    t.doesNotThrow(() => protobuf(r), 'the protobuf serializer takes it')
    t.doesNotThrow(() => JsonLogsSerializer.serializeRequest(factory.toSdkRecords([r])), 'the JSON serializer takes it')
  }
  t.equal(safeJson(JSON.parse(deep(10_000))), deep(10_000), 'safeJson writes what JSON.stringify would')
  t.equal(safeJson(JSON.parse(deep(20))), JSON.stringify(JSON.parse(deep(20))))
  t.equal(canonicalJson(JSON.parse('{"b":1,"a":[{"d":1,"c":2}]}')), '{"a":[{"c":2,"d":1}],"b":1}', 'shallow canonical JSON unchanged')
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  t.throws(() => safeJson(cyclic), TypeError, 'cycles still throw (fallback record)')
  t.end()
})

t.test('long strings: cut to the limit, counted, never inside a surrogate pair', (t) => {
  const e = { messageTime: TIME, subject: 'x'.repeat(30), toAddresses: ['short', 'y'.repeat(11)], other: { a: 'z'.repeat(12) }, emoji: '123456789😀😀' } as JsonValue
  const r = mapEvent(e, 'messagesDelivered', { ...FLAT, attributeValueLengthLimit: 10 }, OBSERVED)
  t.equal(r.attributes['proofpoint.subject'], 'x'.repeat(10))
  t.same(r.attributes['proofpoint.toAddresses'], ['short', 'y'.repeat(10)])
  t.same((e as { toAddresses: string[] }).toAddresses[1], 'y'.repeat(11), 'the event itself is not changed')
  t.equal(r.attributes['proofpoint.other.a'], 'z'.repeat(10))
  t.equal(r.attributes['proofpoint.emoji'], '123456789', 'the pair at the cut is left out whole')
  t.equal(r.attributes['proofpoint.messageTime'], TIME.slice(0, 10))
  t.equal(r.truncated, 5, 'five strings cut (messageTime too)')
  t.equal(r.attributes['log.record.uid'], r.uid, 'the mapper counts and cuts the event’s strings only, not its uid')
  t.notOk(mapEvent(e, 'messagesDelivered', FLAT, OBSERVED).truncated, 'no limit, nothing cut')
  const nested = mapEvent(e, 'messagesDelivered', { ...NESTED, attributeValueLengthLimit: 10 }, OBSERVED)
  t.same(nested.attributes['proofpoint.other'], { a: 'z'.repeat(10) })
  t.equal((nested.body as { subject: string }).subject, 'x'.repeat(30), 'the body is never cut')
  // The SDK applies the same limit (logRecordLimits): with the mapper's cut first, it has nothing left to cut.
  const limited = new SdkRecordFactory({ serviceName: 's', serviceVersion: '0', resourceAttributes: {}, logRecordLimits: { attributeValueLengthLimit: 10 } })
  t.teardown(() => limited.shutdown())
  const sdk = limited.toSdkRecords([r])[0]!
  t.same(sdk.attributes, { ...r.attributes, 'log.record.uid': r.uid.slice(0, 10), 'proofpoint.event_type': 'messagesDe' }, 'the SDK cuts nothing else (a limit that small cuts our own attributes there)')
  t.end()
})

t.test('keys that differ only in lone surrogates stay two attributes on the wire', (t) => {
  const e = JSON.parse('{"messageTime":"2026-11-24T12:00:00Z","x":{"\\ud800":[],"\\udbff":0}}') as JsonValue
  const d = decoded(map(e, FLAT))
  t.same(d.attributes['proofpoint.x.\\ud800'], [], 'an array member stays an array')
  t.equal(d.attributes['proofpoint.x.\\udbff'], 0)
  t.end()
})

t.test('lone surrogates and controls: valid UTF-8 out of both serializers', (t) => {
  const nasty = 'a\uD800b\uDFFFc\u0000d\u001f\u007f\u2028😀\uDBFF'
  const e = JSON.parse(JSON.stringify({ messageTime: TIME, subject: nasty, [nasty]: nasty, toAddresses: [nasty] })) as JsonValue
  for (const opts of [FLAT, NESTED]) {
    const r = map(e, opts)
    const bytes = protobuf(r)
    const wellFormed = 'a\uFFFDb\uFFFDc\u0000d\u001f\u007f\u2028😀\uFFFD'
    const d = decoded(r)
    t.equal(d.attributes['proofpoint.subject'], wellFormed, 'lone surrogates become U+FFFD')
    // Keys must stay distinct on the wire, so their lone surrogates are written as text rather than U+FFFD.
    const escapedKey = 'a\\ud800b\\udfffc\u0000d\u001f\u007f\u2028😀\\udbff'
    t.equal(d.attributes[`proofpoint.${escapedKey}`], wellFormed, 'in keys: escaped as text, so two keys never collide')
    t.notOk(`proofpoint.${wellFormed}` in d.attributes)
    t.notOk(Buffer.from(bytes).includes(Buffer.from([0xed, 0xa0, 0x80])), 'no encoded surrogate (CESU-8) in the protobuf')
    const json = JsonLogsSerializer.serializeRequest(factory.toSdkRecords([r]))!
    t.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(json), 'the JSON serializer gives valid UTF-8')
  }
  t.end()
})

t.test('numbers beyond 2^53 and non-integers where ints are expected: kept, counted malformed', (t) => {
  const r = map(JSON.parse(`{"messageTime":"${TIME}","spamScore":9007199254740993,"phishScore":1.5,"malwareScore":1e300,"messageSize":-0,"other":1e21}`) as JsonValue)
  t.equal(r.attributes['proofpoint.spamScore'], 2 ** 53, 'kept as the double JSON.parse made of it')
  t.equal(r.attributes['proofpoint.phishScore'], 1.5)
  t.match(r.malformed, [/^spamScore: expected int, got number beyond 2\^53 9007199254740992$/, /^phishScore: expected int, got number "?1\.5/, /^malwareScore: expected int, got number beyond 2\^53 1e\+300$/])
  t.equal(r.malformed.length, 3, 'messageSize -0 is an int')
  const d = decoded(r)
  t.equal(d.attributeKinds['proofpoint.phishScore'], 'double')
  t.equal(d.attributeKinds['proofpoint.malwareScore'], 'double', 'beyond int64: a double on the wire')
  t.equal(d.attributes['proofpoint.malwareScore'], 1e300)
  t.equal(d.attributeKinds['proofpoint.other'], 'double', '1e21 > 2^63: a double')
  t.end()
})

t.test('arrays with mixed types are made homogeneous', (t) => {
  const e = JSON.parse(`{"messageTime":"${TIME}","toAddresses":["a",1,true,null],"nums":[1,2.5,null],"mix":[1,"a",{"b":1},[2]]}`) as JsonValue
  const flat = map(e)
  t.same(flat.attributes['proofpoint.toAddresses'], ['a', '1', 'true', ''])
  t.same(flat.attributes['proofpoint.nums'], ['1', '2.5', ''])
  t.same(flat.attributes['proofpoint.mix'], ['1', 'a', '{"b":1}', '[2]'])
  t.match(flat.malformed, [/^toAddresses\[1\]: expected string, got number/])
  const nested = map(e, NESTED)
  t.same(nested.attributes['proofpoint.mix'], [1, 'a', { b: 1 }, [2]])
  t.end()
})

t.test('duplicate keys: JSON.parse keeps the last, and so does the record and its uid', (t) => {
  const r = map(JSON.parse(`{"messageTime":"${TIME}","subject":"first","subject":"last"}`) as JsonValue)
  t.equal(r.attributes['proofpoint.subject'], 'last')
  t.equal(r.uid, eventUid({ messageTime: TIME, subject: 'last' }, 'messagesDelivered'))
  t.end()
})

t.test('an array of objects with a name of its own per element: bounded columns, then the first columns (schema field) or the array as JSON text', (t) => {
  const parts = Array.from({ length: 10_000 }, (_, i) => ({ [`k${i}`]: 1 }))
  const started = process.cpuUsage()
  const r = map({ messageTime: TIME, messageParts: parts, vendor: parts.slice(0, MAX_FLAT_COLUMNS), other: parts.slice(0, MAX_FLAT_COLUMNS + 1) })
  const cpuMs = (process.cpuUsage(started).user + process.cpuUsage(started).system) / 1000
  t.comment(`10,000 distinct names mapped in ${cpuMs.toFixed(0)} ms of CPU (quadratic before: ~8 s and ~900 MB)`)
  const columns = Object.keys(r.attributes).filter((k) => k.startsWith('proofpoint.messageParts.'))
  t.equal(columns.length, MAX_FLAT_COLUMNS, 'a schema field past the limit: its first columns only')
  t.same(columns.slice(0, 2), ['proofpoint.messageParts.k0', 'proofpoint.messageParts.k1'])
  t.notOk('proofpoint.messageParts' in r.attributes, 'never a value under the parent key: it would clash with the columns of other records')
  t.same(r.malformed, [`messageParts: more than ${MAX_FLAT_COLUMNS} distinct member names, the first ${MAX_FLAT_COLUMNS} are attributes (the body has all)`], 'counted malformed, saying so')
  t.equal(r.attributes['proofpoint.vendor.k0'] !== undefined && r.attributes[`proofpoint.vendor.k${MAX_FLAT_COLUMNS - 1}`] !== undefined, true, 'up to the limit: columns, as before')
  t.equal(r.attributes['proofpoint.other'], JSON.stringify(parts.slice(0, MAX_FLAT_COLUMNS + 1)), 'a field the schema does not know, past the limit: one attribute, the array as JSON')
  t.end()
})

t.test('a vendor field named "" does not change the keys of other events (the key cache knows the separator)', (t) => {
  const poison = map({ messageTime: TIME, '': { newVendorField: 'poison' } })
  t.equal(poison.attributes['proofpoint..newVendorField'], 'poison')
  const next = map({ messageTime: TIME, newVendorField: 'fine', nested: [{ other: 'y' }] })
  t.equal(next.attributes['proofpoint.newVendorField'], 'fine', 'still proofpoint.newVendorField')
  t.notOk('proofpoint..newVendorField' in next.attributes)
  const reverse = map({ messageTime: TIME, '': [{ other: 'y' }] })
  t.same(reverse.attributes['proofpoint..other'], ['y'], 'and the other way round')
  t.notOk('proofpoint.other' in reverse.attributes)
  t.end()
})

t.test('event times OTLP cannot carry (before 1970, from 2554-07-21T23:34:34Z): no timestamp, counted malformed', (t) => {
  for (const time of ['1969-12-31T23:59:59Z', '0001-01-01T00:00:00Z', '2554-07-21T23:34:34Z', '9999-12-31T23:59:59Z']) {
    const r = map({ clickTime: time }, FLAT, 'clicksPermitted')
    t.equal(r.timestamp, undefined, `${time}: no timestamp`)
    t.match(r.malformed, [/^clickTime outside what OTLP can carry \(1970 to 2554\)/], time)
  }
  for (const time of ['1970-01-01T00:00:00Z', '2554-07-21T23:34:32Z']) t.ok(map({ clickTime: time }, FLAT, 'clicksPermitted').timestamp, `${time}: kept`)
  t.end()
})

t.test('an event under 1 MiB whose record would pass 2.5 MiB (a URL its parts percent-encode) goes out reduced too', (t) => {
  const opts: MappingOptions = { attributeShape: 'flat', body: 'json', indicators: true, standardFields: true }
  for (const [repeat, reduced] of [[520_000, true], [30_000, false]] as const) {
    const event = { clickTime: TIME, id: 'big', GUID: 'g', url: 'http://a.example/' + 'a '.repeat(repeat), recipient: 'u@corp.example' }
    const text = JSON.stringify(event)
    const r = mapEvent(event, 'clicksPermitted', opts, OBSERVED, text)
    const bytes = protobuf(r).length
    if (!reduced) {
      t.same(r.malformed, [], `${text.length} bytes: mapped whole`)
      t.ok(Object.keys(r.attributes).includes('url.full'), 'with its URL parts')
      continue
    }
    t.ok(Buffer.byteLength(text) < 1024 * 1024, 'under the text limit')
    t.same(Object.keys(r.attributes), ['proofpoint.event_type', 'log.record.uid'], 'only ours')
    t.match(r.malformed, [new RegExp(`^event of ${Buffer.byteLength(text)} bytes whose record would pass 2621440: exported with only its type, uid and time as attributes and its body whole`)])
    t.equal(r.body, text, 'the API\'s text as body')
    t.ok(r.timestamp, 'its time')
    t.ok(bytes < 3 * 1024 * 1024, `its request fits the 3 MiB cap (${bytes} bytes; mapped whole it was ~8.3 MB)`)
  }
  t.end()
})

t.test('an event over 1 MiB: type, uid and time as attributes, the body cut to 2 MiB on a character boundary, counted malformed', (t) => {
  for (const [subject, cut] of [['x'.repeat(1_500_000), false], ['é'.repeat(1_600_000), true], ['a' + '😀'.repeat(700_000), true]] as const) {
    const event = { messageTime: TIME, subject, sender: 'a@b.example', messageParts: [{ md5: 'd'.repeat(32) }] }
    const text = JSON.stringify(event)
    const r = mapEvent(event, 'messagesDelivered', { attributeShape: 'flat', body: 'json', indicators: true, standardFields: true }, OBSERVED, text)
    t.same(Object.keys(r.attributes), ['proofpoint.event_type', 'log.record.uid'], 'only ours')
    t.equal(r.uid, eventUid(event, 'messagesDelivered', text), 'the uid of the whole event')
    t.ok(r.timestamp, 'its time')
    t.match(r.malformed, [new RegExp(`^event of ${Buffer.byteLength(text)} bytes, over 1048576: exported with only its type, uid and time as attributes and ${cut ? 'its body cut to the first 2097152 bytes' : 'its body whole'}`)])
    const body = r.body as string
    t.ok(text.startsWith(body), 'the body is the start of the API\'s text')
    if (cut) t.ok(Buffer.byteLength(body) <= 2 * 1024 * 1024 && Buffer.byteLength(body) > 2 * 1024 * 1024 - 4, `${Buffer.byteLength(body)} bytes`)
    else t.equal(body, text, 'under 2 MiB: whole')
    t.notMatch(body, /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|\ufffd$/, 'no half character')
    t.ok(protobuf(r).length < 3 * 1024 * 1024, 'its request fits the 3 MiB cap')
  }
  const none = mapEvent({ messageTime: TIME, subject: 'x'.repeat(1_100_000) }, 'messagesDelivered', { attributeShape: 'flat', body: 'none' }, OBSERVED, JSON.stringify({ messageTime: TIME, subject: 'x'.repeat(1_100_000) }))
  t.equal(none.body, undefined, 'RECEIVER_BODY=none: still no body')
  t.end()
})

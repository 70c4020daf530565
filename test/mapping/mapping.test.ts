import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import { SeverityNumber } from '@opentelemetry/api-logs'
import type { AnyValueMap } from '@opentelemetry/api-logs'
import {
  CLICK_FIELDS,
  EVENT_NAMES,
  MESSAGE_FIELDS,
  canonicalJson,
  eventUid,
  hrTimeFromIso,
  mapEvent,
  mapResponse,
} from '../../src/mapping/index.js'
import type { FieldSpec, HrTime, MappedRecord, MappingOptions } from '../../src/mapping/index.js'
import { EVENT_TYPES } from '../../src/siem/types.js'
import type { EventType, JsonObject, JsonValue, SiemResponse } from '../../src/siem/types.js'

// Tests run from dist/test; the fixtures stay in the source tree.
const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../../../test/fixtures/${name}`, import.meta.url), 'utf8'))

const raw = fixture('siem-all-response.json') as Record<string, JsonValue>
const all: Record<EventType, JsonObject[]> = {
  messagesDelivered: raw.messagesDelivered as JsonObject[],
  messagesBlocked: raw.messagesBlocked as JsonObject[],
  clicksPermitted: raw.clicksPermitted as JsonObject[],
  clicksBlocked: raw.clicksBlocked as JsonObject[],
}
const cases = fixture('mapping-cases.json') as Record<string, JsonObject>
const ev = (type: EventType, i: number): JsonObject => all[type][i] as JsonObject
const kase = (name: string): JsonObject => cases[name] as JsonObject

const FLAT: MappingOptions = { attributeShape: 'flat', body: 'json' }
const NESTED: MappingOptions = { attributeShape: 'nested', body: 'json' }
const OBSERVED: HrTime = [1_790_000_000, 123]
const hashOf = (s: string): string => createHash('sha256').update(s).digest('hex')
const map = (e: JsonValue, type: EventType, opts: MappingOptions = FLAT): MappedRecord => mapEvent(e, type, opts, OBSERVED)
const secs = (iso: string): number => Date.parse(iso) / 1000
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T
const isFamily = (type: EventType): 'message' | 'click' => (type.startsWith('messages') ? 'message' : 'click')

void t.test('timestamps to the nanosecond, observed time passed through', (t) => {
  const expect: [EventType, number, HrTime][] = [
    ['messagesDelivered', 0, [secs('2026-08-08T21:28:29Z'), 119_000_000]],
    ['messagesDelivered', 1, [secs('2026-07-16T09:08:56Z'), 0]], // no fraction
    ['messagesDelivered', 2, [secs('2026-02-25T13:50:55Z'), 981_000_000]], // +00:00
    ['messagesBlocked', 0, [secs('2026-07-21T15:02:48Z'), 0]],
    ['clicksPermitted', 0, [secs('2026-11-10T18:19:12Z'), 674_000_000]], // +00:00
    ['clicksPermitted', 2, [secs('2026-06-23T12:04:44Z'), 0]],
    ['clicksBlocked', 2, [secs('2026-05-06T06:48:00Z'), 56_000_000]],
  ]
  for (const [type, i, hr] of expect) {
    const r = map(ev(type, i), type)
    t.same(r.timestamp, hr, `${type}[${i}]`)
    t.equal(r.observedTimestamp, OBSERVED)
    t.same(r.malformed, [], `${type}[${i}] well-formed`)
  }
  const r = map(kase('clickPermittedMalwareActive'), 'clicksPermitted')
  t.same(r.timestamp, [secs('2026-11-20T15:30:00Z'), 123_456_789], '9 digits, -05:30')
  t.end()
})

void t.test('event names, event_type attribute, severities', (t) => {
  const expect: [EventType, number, number, string][] = [
    ['messagesDelivered', 0, 9, 'INFO'], // its only threat is cleared
    ['messagesDelivered', 1, 13, 'WARN'],
    ['messagesBlocked', 0, 9, 'INFO'],
    ['clicksPermitted', 0, 13, 'WARN'], // active impostor
    ['clicksPermitted', 1, 9, 'INFO'], // cleared
    ['clicksBlocked', 0, 9, 'INFO'],
  ]
  for (const [type, i, n, text] of expect) {
    const r = map(ev(type, i), type)
    t.equal(r.eventName, EVENT_NAMES[type])
    t.equal(r.eventType, type)
    t.equal(r.attributes['proofpoint.event_type'], type)
    t.same([r.severityNumber, r.severityText], [n, text], `${type}[${i}]`)
    // The mapper writes the numbers out (no api-logs in worker threads): they are the API's enum's.
    t.equal(r.severityNumber, SeverityNumber[text as 'INFO' | 'WARN'], `${text} is SeverityNumber.${text}`)
  }
  t.equal(SeverityNumber.ERROR, 17)
  t.same(EVENT_NAMES, {
    messagesDelivered: 'proofpoint.message.delivered',
    messagesBlocked: 'proofpoint.message.blocked',
    clicksPermitted: 'proofpoint.click.permitted',
    clicksBlocked: 'proofpoint.click.blocked',
  })
  const err = map(kase('clickPermittedMalwareActive'), 'clicksPermitted')
  t.same([err.severityNumber, err.severityText], [17, 'ERROR'], 'permitted click on active malware')
  t.same([map(kase('clickPermittedMalwareActive'), 'clicksBlocked').severityNumber], [9], 'blocked: INFO')
  t.equal(map(kase('clickPermittedFalsePositive'), 'clicksPermitted').severityNumber, 9, 'false positive click: INFO')
  t.equal(map(kase('messageAllFalsePositive'), 'messagesDelivered').severityNumber, 9, 'all falsePositive/cleared: INFO')
  t.equal(map({ messageTime: '2026-01-01T00:00:00Z' }, 'messagesDelivered').severityNumber, 13, 'no threat info: by type')
  t.equal(map({ messageTime: '2026-01-01T00:00:00Z', threatsInfoMap: [] }, 'messagesDelivered').severityNumber, 13)
  t.equal(map('x', 'clicksPermitted').severityNumber, 13, 'non-object: by type')
  t.end()
})

function checkType(t: Test, spec: FieldSpec, v: unknown, name: string): void {
  switch (spec.kind) {
    case 'string':
    case 'time':
      t.type(v, 'string', name)
      break
    case 'int':
      t.ok(Number.isInteger(v), `${name} int`)
      break
    case 'bool':
      t.type(v, 'boolean', name)
      break
    case 'stringArray':
      t.ok(Array.isArray(v) && v.every((s) => typeof s === 'string'), `${name} string[]`)
      break
    case 'objectArray':
      t.fail(`${name} must not be a flat attribute`)
  }
}

void t.test('every schema field typed as the schema says; nulls absent', (t) => {
  for (const type of EVENT_TYPES) {
    const fields = isFamily(type) === 'message' ? MESSAGE_FIELDS : CLICK_FIELDS
    for (const [i, e] of all[type].entries()) {
      const a = map(e, type).attributes
      for (const [name, value] of Object.entries(e)) {
        const key = `proofpoint.${name}`
        const spec = fields[name]
        if (value === null) {
          t.notOk(key in a, `${type}[${i}].${name} null → absent`)
          continue
        }
        if (spec === undefined) continue
        if (spec.kind === 'objectArray') {
          t.notOk(key in a, `${name} flattened`)
          for (const k of Object.keys(spec.keys)) {
            const col = a[`${key}.${k}`]
            if (col === undefined) continue
            t.ok(Array.isArray(col) && col.length === (value as JsonValue[]).length, `${name}.${k} aligned`)
          }
        } else {
          checkType(t, spec, a[key], `${type}[${i}].${name}`)
          t.same(a[key], value, `${type}[${i}].${name} value`)
        }
      }
      t.type(a['log.record.uid'], 'string')
    }
  }
  const a = map(ev('messagesDelivered', 0), 'messagesDelivered').attributes
  t.equal(a['proofpoint.spamScore'], 92)
  t.equal(a['proofpoint.completelyRewritten'], true)
  t.same(a['proofpoint.ccAddresses'], ['alice@corp.example', "d.o'brien@corp.example"])
  t.same(map(ev('messagesDelivered', 1), 'messagesDelivered').attributes['proofpoint.ccAddresses'], [], 'empty array kept')
  t.equal(a['proofpoint.messageTime'], '2026-08-08T21:28:29.119Z', 'event time also an attribute, as received')
  const noThreats = { messageTime: '2026-01-01T00:00:00Z', threatsInfoMap: [], vendorList: [] }
  t.same(Object.keys(map(noThreats, 'messagesDelivered').attributes).filter((k) => k.startsWith('proofpoint.t') || k.startsWith('proofpoint.v')), ['proofpoint.vendorList'], 'flat: empty known object array → no attribute')
  t.same(map(noThreats, 'messagesDelivered', NESTED).attributes['proofpoint.threatsInfoMap'], [], 'nested: empty array')
  t.notOk('proofpoint.messageParts.sandboxStatus' in a, 'a key null in every element: no column')
  const c = map(ev('clicksBlocked', 0), 'clicksBlocked').attributes
  t.equal(c['proofpoint.recipient'], 'carol.ng@corp.example', 'click recipient is a string')
  t.notOk('proofpoint.campaignId' in c)
  t.end()
})

void t.test('unknown fields kept by JSON type', (t) => {
  const flat = map(ev('messagesBlocked', 1), 'messagesBlocked')
  t.same(flat.malformed, [], 'an unknown field is not malformed')
  t.equal(flat.attributes['proofpoint.newVendorField.nested'], '[1,2,{"x":"y"}]', 'deeper than one level: JSON')
  const nested = map(ev('messagesBlocked', 1), 'messagesBlocked', NESTED)
  t.same(nested.attributes['proofpoint.newVendorField'], { nested: [1, 2, { x: 'y' }] }, 'nested: a map, as deep as it goes')
  t.end()
})

void t.test('flat arrays of objects: union of keys, index-aligned, "" for missing', (t) => {
  const r = map(kase('messageRaggedThreats'), 'messagesDelivered')
  const a = r.attributes
  t.same(r.malformed, [])
  t.same(a['proofpoint.threatsInfoMap.threatID'], ['a', 'b', '', 'd'])
  t.same(a['proofpoint.threatsInfoMap.classification'], ['phish', '', '', 'spam'])
  t.same(a['proofpoint.threatsInfoMap.campaignID'], ['camp-1', '', '', ''], 'null member → ""')
  t.same(a['proofpoint.threatsInfoMap.score'], ['5', '', '', '7'], 'numbers with gaps → strings (homogeneous)')
  t.same(a['proofpoint.threatsInfoMap.extra'], ['', '{"deep":[1,2]}', '', ''], 'deeper → JSON')
  t.same(a['proofpoint.messageParts.filename'], ['a.txt', 'b.docm'], 'received order')
  t.same(a['proofpoint.messageParts.sandboxStatus'], ['', 'threat'])
  const lengths = Object.keys(a)
    .filter((k) => k.startsWith('proofpoint.threatsInfoMap.'))
    .map((k) => (a[k] as unknown[]).length)
  t.same(new Set(lengths), new Set([4]), 'all columns the same length')
  t.same(a['proofpoint.toAddresses'], ['a@corp.example', '', 'c@corp.example'], 'null in a string array → ""')
  t.same(a['proofpoint.vendorScalars'], ['1', 'two', 'true'], 'mixed scalars → strings')
  t.same(a['proofpoint.vendorNumbers'], [1, 2.5, 3])
  t.same(a['proofpoint.vendorNullNumbers'], ['1', ''])
  t.equal(a['proofpoint.vendorObject.a'], 1)
  t.notOk('proofpoint.vendorObject.b' in a)
  t.equal(a['proofpoint.vendorObject.c'], '{"d":"e"}')
  t.same(a['proofpoint.vendorObject.f'], [1, 2], 'an array of scalars inside an object stays an array')
  t.same(a['proofpoint.vendorMatrix'], ['[1,2]', '[3]'])
  t.same(a['proofpoint.vendorEmpty'], [])
  t.equal(a['proofpoint.vendorFlag'], false)
  t.same(a['proofpoint.vendorMixedColumn.s'], ['1', 'a'], 'mixed column → strings')
  t.same(a['proofpoint.vendorDeep.strs'], ['a', ''], 'null in it as "", as at the top level')
  t.equal(a['proofpoint.vendorRatio'], 0.25)
  for (const [k, v] of Object.entries(a)) {
    t.notOk(v !== null && typeof v === 'object' && !Array.isArray(v), `${k}: no maps in flat shape`)
    if (Array.isArray(v)) t.ok(new Set(v.map((x) => typeof x)).size <= 1, `${k}: homogeneous`)
  }
  t.end()
})

void t.test('nested shape: maps and arrays of maps, nulls removed', (t) => {
  const a = map(kase('messageRaggedThreats'), 'messagesDelivered', NESTED).attributes
  t.same(a['proofpoint.threatsInfoMap'], [
    { threatID: 'a', threatStatus: 'active', classification: 'phish', campaignID: 'camp-1', score: 5 },
    { threatID: 'b', threatStatus: 'active', extra: { deep: [1, 2] } },
    {},
    { threatID: 'd', threatStatus: 'active', classification: 'spam', score: 7 },
  ])
  t.same(a['proofpoint.messageParts'], [
    { filename: 'a.txt', md5: 'm-a' },
    { filename: 'b.docm', md5: 'm-b', sandboxStatus: 'threat' },
  ])
  t.same(a['proofpoint.vendorObject'], { a: 1, c: { d: 'e' }, f: [1, 2] })
  t.same(a['proofpoint.vendorMatrix'], [[1, 2], [3]])
  t.same(a['proofpoint.vendorDeep'], { strs: ['a', ''], mixed: ['1', 'b'], objs: [{ k: 1 }, {}] }, 'arrays inside maps homogeneous too')
  t.notOk('proofpoint.threatsInfoMap.threatID' in a)
  t.same(a['proofpoint.toAddresses'], ['a@corp.example', '', 'c@corp.example'])
  const m = map(ev('messagesDelivered', 0), 'messagesDelivered', NESTED).attributes['proofpoint.messageParts'] as AnyValueMap[]
  t.notOk('sandboxStatus' in (m[0] as AnyValueMap))
  t.end()
})

void t.test('body modes', (t) => {
  const e = ev('messagesBlocked', 1)
  t.equal(map(e, 'messagesBlocked', { attributeShape: 'flat', body: 'json' }).body, JSON.stringify(e))
  t.same(JSON.parse(map(e, 'messagesBlocked', NESTED).body as string), e, 'lossless whatever the shape')
  t.equal(map(e, 'messagesBlocked', { attributeShape: 'flat', body: 'map' }).body, e, 'map: the event itself')
  t.equal(map(e, 'messagesBlocked', { attributeShape: 'flat', body: 'none' }).body, undefined)
  t.equal(map(null, 'messagesBlocked').body, 'null')
  t.equal(map('oops', 'clicksBlocked').body, '"oops"')
  t.end()
})

void t.test('uid: a known answer (the dedup keys in state files and log.record.uid must not change between versions)', (t) => {
  const e: JsonObject = {
    messageTime: '2026-11-20T10:00:00.000Z',
    recipient: ['a@b.zz'],
    GUID: 'g-1',
    messageParts: [
      { md5: 'b', filename: 'y' },
      { md5: 'a', filename: 'x' },
    ],
    subject: 'caf\u00e9 "q"',
    spamScore: 0.0,
    impostorScore: 1e3,
  }
  // Computed by the first implementation (createHash), kept as a literal.
  t.equal(eventUid(e, 'messagesDelivered'), '0794c5798816b83c263fd0475c204d43864d722015e60ca299a21e2c3a81f3ab')
  t.end()
})

void t.test('uid: the same with the event text as without (strings quoted unsearched only when the text allows it)', (t) => {
  const texts = [
    '{"messageTime":"2026-11-20T10:00:00.000Z","subject":"caf\u00e9 \ud83d\ude00","recipient":["a@b.zz"]}',
    '{"subject":"say \\"hi\\"","headerFrom":"\\"A\\" <a@b.zz>"}',
    '{"subject":"tab\\there","x":"\\u0001","y":"a\\\\b"}',
    '{"subject":"lone \\ud800 escaped"}',
    // Not from UTF-8: a JavaScript string with a lone surrogate and no backslash. JSON.stringify escapes it.
    '{"subject":"lone \ud800 raw","b":["\udc00"]}',
    '{"messageParts":[{"md5":"b"},{"md5":"a"}],"spamScore":0.0,"n":1e3}',
  ]
  for (const text of texts) {
    const e = JSON.parse(text) as JsonValue
    t.equal(eventUid(e, 'messagesDelivered', text), eventUid(e, 'messagesDelivered'), text)
    t.equal(mapEvent(e, 'messagesDelivered', FLAT, OBSERVED, text).uid, eventUid(e, 'messagesDelivered'), `mapEvent, ${text}`)
  }
  t.equal(eventUid(JSON.parse(texts[4]!) as JsonValue, 'messagesDelivered', texts[4]), hashOf('messagesDelivered\n{"b":["\\udc00"],"subject":"lone \\ud800 raw"}'), 'a lone surrogate is escaped')
  t.end()
})

void t.test('uid: stable under key and messageParts reordering, distinct per recipient and type', (t) => {
  const e = ev('messagesBlocked', 0)
  const uid = map(e, 'messagesBlocked').uid
  t.match(uid, /^[0-9a-f]{64}$/)
  t.equal(map(e, 'messagesBlocked').attributes['log.record.uid'], uid)
  t.equal(eventUid(e, 'messagesBlocked'), uid)

  const reverseKeys = (o: JsonObject): JsonObject => Object.fromEntries<JsonValue>(Object.entries(o).reverse())
  const reordered = reverseKeys(clone(e))
  reordered.messageParts = (reordered.messageParts as JsonObject[]).reverse().map(reverseKeys)
  reordered.threatsInfoMap = (reordered.threatsInfoMap as JsonObject[]).map(reverseKeys)
  t.not(JSON.stringify(reordered), JSON.stringify(e), 'really reordered')
  t.equal(eventUid(reordered, 'messagesBlocked'), uid, 'same event re-reported → same uid')

  const threatsSwapped = clone(e)
  threatsSwapped.threatsInfoMap = (threatsSwapped.threatsInfoMap as JsonObject[]).reverse()
  t.not(eventUid(threatsSwapped, 'messagesBlocked'), uid, 'only messageParts is unordered')

  const other = clone(e)
  other.recipient = ['alice@corp.example']
  other.id = '142d1d03-daaa-9888-095e8ddc79ce'
  t.not(eventUid(other, 'messagesBlocked'), uid, 'another recipient of the same message → another uid')

  t.not(eventUid(e, 'messagesDelivered'), uid, 'same data, other type → other uid')
  const click = ev('clicksBlocked', 0)
  t.not(eventUid(click, 'clicksPermitted'), eventUid(click, 'clicksBlocked'))

  const uids = new Set(mapResponse({ events: all }, FLAT, OBSERVED).map((r) => r.uid))
  t.equal(uids.size, 12, 'all fixture events distinct')

  t.equal(canonicalJson({ b: [2, { d: 1, c: null }], a: 'x"y', é: 1e21 }), '{"a":"x\\"y","b":[2,{"c":null,"d":1}],"é":1e+21}')
  t.equal(canonicalJson({ messageParts: [{ b: 2 }, { a: 1 }] }), '{"messageParts":[{"a":1},{"b":2}]}')
  t.equal(canonicalJson({ x: { messageParts: [2, 1] } }), '{"x":{"messageParts":[2,1]}}', 'only the top-level field')
  t.equal(canonicalJson({ b: 1, a: undefined, c: () => 1, messageParts: [1, undefined] }), '{"b":1,"messageParts":[1,null]}', 'skipped members')

  // Against a plain reference implementation: sorted keys at every level, JSON.stringify for the rest.
  const ref = (v: JsonValue): string =>
    v === null || typeof v !== 'object'
      ? JSON.stringify(v)
      : Array.isArray(v)
        ? '[' + v.map(ref).join(',') + ']'
        : '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + ref(v[k] as JsonValue)).join(',') + '}'
  const odd: JsonObject = { '10': 1, '9': [{ '2': 'b', '1': 'a' }], 'a"b\\': '\u0001\u001f', '\ud800': 'x😀\udc00', é: 'É', Z: -0, n: 1.5e-7, '': { '': null } }
  t.equal(canonicalJson(odd), ref(odd), 'integer-like keys, escapes, lone surrogates')
  t.equal(canonicalJson(odd), canonicalJson(Object.fromEntries(Object.entries(odd).reverse())), 'order-free')
  for (const type of EVENT_TYPES) {
    for (const e of all[type]) {
      const { messageParts, ...rest } = e
      t.equal(canonicalJson(rest), ref(rest), `${type} ${JSON.stringify(e.id)} matches the reference`)
      if (Array.isArray(messageParts)) {
        const sortedParts = messageParts.map((p) => ref(p)).sort()
        t.equal(canonicalJson(e), ref({ ...rest, messageParts: sortedParts.map((p) => JSON.parse(p) as JsonValue) }))
      }
    }
  }
  t.end()
})

void t.test('mapResponse: all four types in EVENT_TYPES order', (t) => {
  const response: SiemResponse = { queryEndTime: '2026-11-24T12:00:00Z', events: all }
  const records = mapResponse(response, FLAT, OBSERVED)
  t.same(
    records.map((r) => r.eventType),
    EVENT_TYPES.flatMap((type) => all[type].map(() => type)),
  )
  t.same(
    records.flatMap((r) => r.malformed),
    [],
  )
  t.same(mapResponse({ events: { ...all, clicksBlocked: undefined as unknown as JsonValue[] } }, FLAT, OBSERVED).length, 9)
  t.end()
})

void t.test('malformed events are mapped and explained', (t) => {
  const missing = map({ id: 'x', GUID: 'g' }, 'messagesDelivered')
  t.equal(missing.timestamp, undefined)
  t.notOk('timestamp' in missing, 'timestamp left unset')
  t.same(missing.malformed, ['messageTime missing'])
  t.same(map({ clickTime: null }, 'clicksBlocked').malformed, ['clickTime missing'])

  const bad = map({ clickTime: '2026-13-01T00:00:00Z', id: 'c' }, 'clicksPermitted')
  t.equal(bad.timestamp, undefined)
  t.same(bad.malformed, ['clickTime unparseable: "2026-13-01T00:00:00Z"'])
  t.equal(bad.attributes['proofpoint.clickTime'], '2026-13-01T00:00:00Z', 'kept as received')
  const long = map({ clickTime: 'x'.repeat(500) }, 'clicksPermitted').malformed[0] as string
  t.ok(long.length < 100 && long.endsWith('…"'), 'quoted value truncated')
  t.same(map({ messageTime: 1_700_000_000 }, 'messagesDelivered').malformed, ['messageTime unparseable: 1700000000'])

  const r = map(kase('messageBadTypes'), 'messagesDelivered')
  t.same(r.malformed, [
    'spamScore: expected int, got string "92"',
    'phishScore: expected int, got number 92.5',
    'subject: expected string, got number 42',
    'modulesRun[1]: expected string, got number 3',
    'threatsInfoMap[0].threatTime unparseable: "yesterday"',
  ])
  // The forms Proofpoint's own documentation gives: `completelyRewritten` as "true"/"false"/"na", `fromAddress` as a
  // lone string, `impostorScore` with a fraction.
  const documented = map({ messageTime: '2026-11-20T10:00:00Z', completelyRewritten: 'na', fromAddress: 'badguy@evil.zz', impostorScore: 0.5 }, 'messagesBlocked')
  t.same(documented.malformed, [], 'the documented forms are well-formed')
  t.equal(documented.attributes['proofpoint.completelyRewritten'], 'na', 'exported as sent')
  t.same(
    map({ messageTime: '2026-11-20T10:00:00Z', completelyRewritten: 'yes', fromAddress: 5, impostorScore: 'high' }, 'messagesBlocked').malformed,
    ['completelyRewritten: expected bool, "true", "false" or "na", got string "yes"', 'fromAddress: expected array of strings, got number 5', 'impostorScore: expected number, got string "high"'],
  )
  t.equal(r.attributes['proofpoint.spamScore'], '92', 'kept as its JSON type, not coerced')
  t.equal(r.attributes['proofpoint.phishScore'], 92.5)
  t.equal(r.attributes['proofpoint.completelyRewritten'], 'true')
  t.equal(r.attributes['proofpoint.subject'], 42)
  t.same(r.attributes['proofpoint.modulesRun'], ['av', '3'], 'homogeneous')
  t.same(r.timestamp, [secs('2026-11-20T10:00:00Z'), 0], 'the rest is still mapped')

  t.same(map({ messageTime: '2026-01-01T00:00:00Z', threatsInfoMap: 'none' }, 'messagesBlocked').malformed, [
    'threatsInfoMap: expected array of objects, got string "none"',
  ])
  t.same(map({ messageTime: '2026-01-01T00:00:00Z', threatsInfoMap: [1] }, 'messagesBlocked').malformed, [
    'threatsInfoMap[0]: expected object, got number 1',
  ])
  t.same(map({ messageTime: '2026-01-01T00:00:00Z', recipient: 'a@b' }, 'messagesBlocked').malformed, [
    'recipient: expected array of strings, got string "a@b"',
  ])
  t.same(map({ clickTime: '2026-01-01T00:00:00Z', recipient: ['a@b'] }, 'clicksBlocked').malformed, [
    'recipient: expected string, got array',
  ])
  t.end()
})

/** Keys of `a` that are a parent (`k` beside `k.x`) of a key of `b`, or the reverse. */
function parentClashes(a: AnyValueMap, b: AnyValueMap): string[] {
  const clashes: string[] = []
  for (const [x, y] of [[a, b], [b, a]] as const) {
    for (const k of Object.keys(x)) if (Object.keys(y).some((other) => other.startsWith(`${k}.`))) clashes.push(k)
  }
  return clashes
}

void t.test('a value of the wrong shape keeps the schema\'s key shape: no key becomes the parent of another record\'s key', (t) => {
  const wellFormed = { ...ev('messagesDelivered', 0), messageParts: [{ md5: 'a', filename: 'f' }], threatsInfoMap: [{ threat: 'x', threatTime: '2026-01-01T00:00:00Z' }], subject: 'hi', toAddresses: ['a@b.c'] }
  const wrong: Record<string, JsonValue> = {
    'subject as an object': { subject: { text: 'hi', charset: 'utf-8' } },
    'subject as an array of objects': { subject: [{ text: 'hi' }] },
    'spamScore as an object': { spamScore: { value: 5 } },
    'messageTime as an object': { messageTime: { at: '2026-01-01T00:00:00Z' } },
    'toAddresses of objects': { toAddresses: [{ address: 'a@b.c' }, 'd@e.f'] },
    'toAddresses as an object': { toAddresses: { address: 'a@b.c' } },
    'messageParts as a string': { messageParts: 'none' },
    'messageParts as one object': { messageParts: { md5: 'b' } },
    'messageParts of scalars and objects': { messageParts: [1, { md5: 'c' }, null, [2]] },
    'messageParts only nulls': { messageParts: [null] },
    'a messagePart member as an object': { messageParts: [{ md5: { v: 'd' }, filename: ['g'] }] },
    'threatsInfoMap member as an object': { threatsInfoMap: [{ threat: { url: 'x' } }] },
  }
  for (const opts of [FLAT, NESTED]) {
    const good = map(wellFormed, 'messagesDelivered', opts)
    t.same(good.malformed, [], `${opts.attributeShape}: the well-formed event`)
    for (const [name, fields] of Object.entries(wrong)) {
      const bad = map({ ...wellFormed, ...(fields as JsonObject) }, 'messagesDelivered', opts)
      t.same(parentClashes(good.attributes, bad.attributes), [], `${opts.attributeShape}, ${name}: no key is a parent of the other record's`)
      t.ok(bad.malformed.length > 0 || name === 'messageParts only nulls', `${opts.attributeShape}, ${name}: counted malformed (${bad.malformed.join('; ')})`)
    }
  }
  const flat = (fields: JsonObject): AnyValueMap => map({ ...wellFormed, ...fields }, 'messagesDelivered').attributes
  t.equal(flat({ subject: { text: 'hi' } })['proofpoint.subject'], '{"text":"hi"}', 'an object under a string field: its JSON text, under the field\'s key')
  t.same(flat({ toAddresses: [{ address: 'a@b.c' }, 'd@e.f'] })['proofpoint.toAddresses'], ['{"address":"a@b.c"}', 'd@e.f'], 'a string array keeps its strings, objects as JSON text')
  t.same(flat({ messageParts: { md5: 'b' } })['proofpoint.messageParts.md5'], ['b'], 'one object where an array of them belongs: as an array of one')
  t.notOk('proofpoint.messageParts' in flat({ messageParts: 'none' }), 'a scalar where an array of objects belongs: no attribute (the body has it)')
  t.same(flat({ messageParts: [1, { md5: 'c' }, null] })['proofpoint.messageParts.md5'], ['', 'c', ''], 'elements that are not objects: empty in the columns, still index-aligned')
  t.same(flat({ messageParts: [{ md5: { v: 'd' } }] })['proofpoint.messageParts.md5'], ['{"v":"d"}'], 'a member holding an object: its JSON text')
  const nested = map({ ...wellFormed, messageParts: [{ md5: { v: 'd' }, filename: 'f', vendor: { x: 1 } }, 7] }, 'messagesDelivered', NESTED).attributes
  t.same(nested['proofpoint.messageParts'], [{ md5: '{"v":"d"}', filename: 'f', vendor: { x: 1 } }, {}], 'nested: known members as text, unknown ones as maps, non-objects as empty maps')
  t.end()
})

void t.test('non-object events still make one record', (t) => {
  for (const e of [null, 'text', 42, true, [1, 2], []] as JsonValue[]) {
    const r = map(e, 'messagesDelivered')
    t.same(r.malformed, ['not an object'], JSON.stringify(e))
    t.equal(r.body, JSON.stringify(e))
    t.equal(r.timestamp, undefined)
    t.same(Object.keys(r.attributes).sort(), ['log.record.uid', 'proofpoint.event_type'])
    t.equal(r.uid, eventUid(e, 'messagesDelivered'))
  }
  t.end()
})

void t.test('never throws on odd inputs', (t) => {
  const cyclic: Record<string, unknown> = { messageTime: '2026-01-01T00:00:00Z' }
  cyclic.self = cyclic
  const weird: unknown[] = [
    undefined,
    {},
    { messageTime: '' },
    { __proto__: 'x', constructor: 1, toString: 'y' },
    JSON.parse('{"__proto__": {"polluted": true}, "messageTime": "2026-01-01T00:00:00Z"}'),
    { messageParts: [null, [], {}, 'x'], threatsInfoMap: [[]], clickTime: {} },
    { a: { b: { c: { d: [[[]]] } } } },
    { big: 10n },
    cyclic,
    Object.create(null),
    [null, { messageParts: 1 }],
    { messageTime: '2026-01-01T00:00:00Z', n: Number.NaN, i: Infinity },
  ]
  for (const type of EVENT_TYPES) {
    for (const opts of [FLAT, NESTED, { attributeShape: 'flat', body: 'map' }, { attributeShape: 'nested', body: 'none' }] as MappingOptions[]) {
      for (const [i, w] of weird.entries()) {
        let r: MappedRecord | undefined
        t.doesNotThrow(() => {
          r = mapEvent(w as JsonValue, type, opts, OBSERVED)
        }, `${type} weird[${i}]`)
        t.ok(r !== undefined && r.uid.length > 0 && r.attributes['proofpoint.event_type'] === type)
      }
    }
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution')
  const proto = mapEvent(weird[4] as JsonValue, 'messagesDelivered', NESTED, OBSERVED)
  t.same(proto.attributes['proofpoint.__proto__'], { polluted: true })
  const c = mapEvent(cyclic as JsonValue, 'messagesDelivered', FLAT, OBSERVED)
  t.match(c.malformed[0], /^mapping failed: /)
  t.equal(c.body, '<unserializable>')
  t.equal(mapEvent(cyclic as JsonValue, 'messagesDelivered', { attributeShape: 'flat', body: 'none' }, OBSERVED).body, undefined)
  t.doesNotThrow(() => mapEvent({ clickTime: '2026-01-01T00:00:00Z' }, 'bogus' as EventType, FLAT, OBSERVED), 'even a bad type')
  t.end()
})

void t.test('hrTimeFromIso', (t) => {
  t.same(hrTimeFromIso('1970-01-01T00:00:00Z'), [0, 0])
  t.same(hrTimeFromIso('1970-01-01T00:00:00.000000001Z'), [0, 1])
  t.same(hrTimeFromIso('2026-08-08T21:28:29.119Z'), [secs('2026-08-08T21:28:29Z'), 119_000_000])
  t.same(hrTimeFromIso('2026-08-08T21:28:29.1Z'), [secs('2026-08-08T21:28:29Z'), 100_000_000])
  t.same(hrTimeFromIso('2026-08-08T21:28:29.123456Z'), [secs('2026-08-08T21:28:29Z'), 123_456_000])
  t.same(hrTimeFromIso('2026-08-08T21:28:29.999999999+00:00'), [secs('2026-08-08T21:28:29Z'), 999_999_999])
  t.same(hrTimeFromIso('2026-08-08T21:28:29.1234567891Z'), [secs('2026-08-08T21:28:29Z'), 123_456_789], 'beyond ns: truncated')
  t.same(hrTimeFromIso('2026-08-08T23:28:29+02:00'), [secs('2026-08-08T21:28:29Z'), 0])
  t.same(hrTimeFromIso('2026-08-08T00:28:29-05:30'), [secs('2026-08-08T05:58:29Z'), 0])
  t.same(hrTimeFromIso('2026-08-08t21:28:29z'), [secs('2026-08-08T21:28:29Z'), 0], 'lowercase t and z (RFC 3339 §5.6)')
  t.same(hrTimeFromIso('2024-02-29T00:00:00Z'), [secs('2024-02-29T00:00:00Z'), 0], 'leap day')
  t.same(hrTimeFromIso('2000-02-29T00:00:00Z'), [secs('2000-02-29T00:00:00Z'), 0], '400-year leap day')
  t.same(hrTimeFromIso('1969-12-31T23:59:59.5Z'), [-1, 500_000_000], 'before the epoch')
  t.same(hrTimeFromIso('0001-01-01T00:00:00Z'), [secs('0001-01-01T00:00:00Z'), 0], 'year 1 (not 1901)')
  t.same(hrTimeFromIso('0099-03-01T00:00:00Z'), [secs('0099-03-01T00:00:00Z'), 0], 'year 99 (not 1999)')
  t.same(hrTimeFromIso('2016-12-31T23:59:60Z'), [secs('2017-01-01T00:00:00Z'), 0], 'leap second rolls over')
  for (const bad of [
    '',
    'garbage',
    '2026-08-08',
    '2026-08-08T21:28:29', // no offset
    '2026-08-08T21:28:29.119', // no offset
    '2026-13-01T00:00:00Z',
    '2026-00-01T00:00:00Z',
    '2026-02-30T00:00:00Z',
    '2025-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-01-00T00:00:00Z',
    '2026-01-01T24:00:00Z',
    '2026-01-01T23:60:00Z',
    '2026-01-01T23:59:61Z',
    '2026-01-01T00:00:00+24:00',
    '2026-01-01T00:00:00+02:60',
    '2026-01-01T00:00:00+0200',
    '2026-01-01T00:00:00.Z',
    '2026-1-01T00:00:00Z',
    '26-01-01T00:00:00Z',
    ' 2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00Z ',
    '2026-01-01T00:00:00ZZ',
    '2026-01-01X00:00:00Z',
    '２０２６-01-01T00:00:00Z',
  ]) {
    t.equal(hrTimeFromIso(bad), undefined, JSON.stringify(bad))
  }
  t.equal(hrTimeFromIso(42 as unknown as string), undefined, 'not a string')
  t.end()
})

/**
 * The `json` body is the event's text as the API sent it (when the source hands it over): byte for byte, whatever the
 * attribute shape; `map` and `none` ignore it; the uid is the event's canonical form, however the text spells it.
 */
import t from 'tap'
import { eventUid, mapEvent, mapResponse } from '../../src/mapping/index.js'
import type { HrTime, MappingOptions } from '../../src/mapping/index.js'
import { EVENT_TYPES } from '../../src/siem/types.js'
import type { EventType, JsonValue } from '../../src/siem/types.js'
import { API_TEXTS } from '../helpers/api-bytes.js'

const OBSERVED: HrTime = [1_790_000_000, 123]
const JSON_FLAT: MappingOptions = { attributeShape: 'flat', body: 'json', indicators: true, standardFields: true }
const sent = EVENT_TYPES.flatMap((type) => API_TEXTS[type].map((text) => ({ type, text, event: JSON.parse(text) as JsonValue })))

t.test('json: the body is the text, byte for byte; the uid, attributes and the rest as without it', (t) => {
  t.ok(sent.length >= 5)
  for (const { type, text, event } of sent) {
    for (const shape of ['flat', 'nested'] as const) {
      const opts: MappingOptions = { ...JSON_FLAT, attributeShape: shape }
      const withText = mapEvent(event, type, opts, OBSERVED, text)
      const without = mapEvent(event, type, opts, OBSERVED)
      t.equal(withText.body, text, `${type} ${shape}: the API's text`)
      t.equal(without.body, JSON.stringify(event), 'without a text: the event serialized, as before')
      t.equal(withText.uid, eventUid(event, type), 'the uid is the canonical one')
      t.same({ ...withText, body: undefined }, { ...without, body: undefined }, 'nothing else changes')
    }
  }
  const esc = mapEvent(sent[0]?.event ?? null, 'messagesDelivered', JSON_FLAT, OBSERVED, API_TEXTS.messagesDelivered[0])
  t.match(esc.body, /"impostorScore":0\.0,"spamScore":1e3,"phishScore":-0,/, '0.0, 1e3 and -0 as sent (JSON.stringify writes 0, 1000, 0)')
  t.match(esc.body, /\\u00e9 \\ud83d\\ude00/, 'escapes as sent')
  t.end()
})

t.test('the same event spelled two ways: two bodies, one uid', (t) => {
  const a = '{"GUID":"g","messageTime":"2026-11-24T11:30:00Z","impostorScore":0.0,"subject":"\\u00e9"}'
  const b = '{ "subject": "é", "impostorScore": 0, "messageTime": "2026-11-24T11:30:00Z", "GUID": "g" }'
  const ra = mapEvent(JSON.parse(a) as JsonValue, 'messagesDelivered', JSON_FLAT, OBSERVED, a)
  const rb = mapEvent(JSON.parse(b) as JsonValue, 'messagesDelivered', JSON_FLAT, OBSERVED, b)
  t.equal(ra.body, a)
  t.equal(rb.body, b)
  t.equal(ra.uid, rb.uid, 'dedup sees one event')
  t.end()
})

t.test('map and none ignore the text', (t) => {
  for (const { type, text, event } of sent) {
    t.same(mapEvent(event, type, { attributeShape: 'flat', body: 'map' }, OBSERVED, text).body, event, `${type}: map is the parsed event`)
    t.equal(mapEvent(event, type, { attributeShape: 'flat', body: 'none' }, OBSERVED, text).body, undefined, `${type}: none has no body`)
  }
  t.end()
})

t.test('mapResponse takes the texts beside the events; a record whose mapping failed keeps its text as body', (t) => {
  const events = {} as Record<EventType, JsonValue[]>
  for (const type of EVENT_TYPES) events[type] = API_TEXTS[type].map((s) => JSON.parse(s) as JsonValue)
  const records = mapResponse({ events, texts: API_TEXTS }, JSON_FLAT, OBSERVED)
  t.same(
    records.map((r) => r.body),
    EVENT_TYPES.flatMap((type) => API_TEXTS[type]),
  )
  t.same(
    mapResponse({ events }, JSON_FLAT, OBSERVED).map((r) => r.body),
    EVENT_TYPES.flatMap((type) => events[type].map((e) => JSON.stringify(e))),
    'without texts: serialized',
  )
  // No JSON parser gives a BigInt: the fallback path (random uid), which keeps the text all the same.
  const failed = mapEvent({ GUID: 1n } as unknown as JsonValue, 'messagesDelivered', JSON_FLAT, OBSERVED, '{"GUID":1}')
  t.match(failed.malformed, [/mapping failed/])
  t.equal(failed.body, '{"GUID":1}')
  t.end()
})

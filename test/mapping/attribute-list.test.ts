/**
 * The protobuf encoder reads a record's attributes as the list the mapper built (AttributeList), not as an object.
 * The list must say what the object says: where a key can be set twice, the record falls back to the object (first
 * place, last value), and the bytes are those of the object either way.
 */
import t from 'tap'
import { OtlpProtoLogsEncoder } from '../../src/export/otlp-proto-encoder.js'
import { AttributeList } from '../../src/mapping/attribute-list.js'
import { mapEvent, mapEventListed } from '../../src/mapping/map-event.js'
import type { HrTime, MappingOptions } from '../../src/mapping/types.js'
import type { EventType, JsonValue } from '../../src/siem/types.js'

const OBSERVED: HrTime = [1_764_000_000, 0]
const FLAT: MappingOptions = { attributeShape: 'flat', body: 'json', indicators: true, standardFields: true }
const NESTED: MappingOptions = { attributeShape: 'nested', body: 'none' }
const encoder = new OtlpProtoLogsEncoder({ resourceAttributes: {}, scope: { name: 's', version: '1' } })

const MESSAGE = {
  GUID: 'g1',
  messageTime: '2026-11-24T11:00:00.000Z',
  sender: 'a@example.com',
  recipient: ['b@example.com'],
  messageParts: [{ md5: '0123456789abcdef0123456789abcdef', filename: 'x.pdf' }],
  spamScore: 5,
}

/** Events whose attribute keys meet: each must come out as the object would have it. */
const COLLIDING: Array<[string, EventType, string]> = [
  ['a vendor field `event_type` (ours comes first and wins)', 'messagesDelivered', JSON.stringify({ ...MESSAGE, event_type: 'spoofed' })],
  ['a field named like a flattened column (`messageParts.md5`)', 'messagesDelivered', JSON.stringify({ ...MESSAGE, 'messageParts.md5': 'shadow' })],
  ['an unknown object field beside a dotted unknown field', 'clicksPermitted', JSON.stringify({ clickTime: '2026-11-24T11:00:00Z', extra: { a: 1 }, 'extra.a': 2 })],
  // "a\ud800" is written as the text `a\ud800`, which is also the literal member name "a\\ud800".
  ['members that wellFormedKey makes equal (a lone surrogate and its escaped text)', 'messagesDelivered', '{"GUID":"g2","messageTime":"2026-11-24T11:00:00Z","messageParts":[{"a\\ud800":"1","a\\\\ud800":"2"}]}'],
  ['a known field holding an object with a dotted member', 'messagesBlocked', JSON.stringify({ ...MESSAGE, subject: { 'x.y': '1', x: { y: '2' } } })],
]

for (const opts of [FLAT, NESTED]) {
  for (const [name, type, text] of COLLIDING) {
    t.test(`${opts.attributeShape}: ${name}`, (t) => {
      const event = JSON.parse(text) as JsonValue
      const listed = mapEventListed(event, type, opts, OBSERVED, text)
      const object = mapEvent(event, type, opts, OBSERVED, text)
      const bytes = (r: Parameters<typeof encoder.encodeRecords>[0][number] | typeof listed): Buffer => {
        const w = encoder.recordsWriter(1)
        w.add(r)
        return Buffer.from(w.end().bytes)
      }
      t.ok(bytes(listed).equals(bytes(object)), 'the listed record encodes to the bytes of the object')
      t.equal(object.attributes['proofpoint.event_type'], type, 'the event type is ours')
      t.end()
    })
  }
}

t.test('the keys that can meet are the ones flagged: a vendor `event_type` and a dotted field make an object', (t) => {
  const spoofed = mapEventListed({ ...MESSAGE, event_type: 'spoofed' }, 'messagesDelivered', FLAT, OBSERVED)
  t.notOk(spoofed.attributes instanceof AttributeList, 'object semantics')
  t.equal((spoofed.attributes as Record<string, unknown>)['proofpoint.event_type'], 'messagesDelivered')
  const keys = Object.keys(spoofed.attributes)
  t.equal(keys.filter((k) => k === 'proofpoint.event_type').length, 1, 'one key')
  t.same(keys.slice(0, 2), ['proofpoint.event_type', 'log.record.uid'], 'ours first, where a count limit cannot drop them')
  const dotted = mapEventListed({ ...MESSAGE, 'messageParts.md5': 'shadow' }, 'messagesDelivered', FLAT, OBSERVED)
  t.notOk(dotted.attributes instanceof AttributeList, 'a dotted field: object semantics')
  t.equal((dotted.attributes as Record<string, unknown>)['proofpoint.messageParts.md5'], 'shadow', 'the later value, as the object has it')
  t.end()
})

t.test('an event of known fields keeps the list (the fast path is the one taken)', (t) => {
  const r = mapEventListed(MESSAGE, 'messagesDelivered', FLAT, OBSERVED)
  t.ok(r.attributes instanceof AttributeList)
  const list = r.attributes as AttributeList
  t.equal(new Set(list.keys).size, list.keys.length, 'every key once')
  t.same(list.keys.slice(0, 2), ['proofpoint.event_type', 'log.record.uid'], 'ours first: a count limit drops the event\'s attributes before the dedup key')
  t.same(list.toMap(), mapEvent(MESSAGE, 'messagesDelivered', FLAT, OBSERVED).attributes, 'and says what the object says')
  t.end()
})

t.test('the length limit on a list cuts and counts as on the object', (t) => {
  const opts: MappingOptions = { ...FLAT, attributeValueLengthLimit: 8 }
  const listed = mapEventListed(MESSAGE, 'messagesDelivered', opts, OBSERVED)
  const object = mapEvent(MESSAGE, 'messagesDelivered', opts, OBSERVED)
  t.ok(listed.attributes instanceof AttributeList)
  t.ok((listed.truncated ?? 0) > 0, 'some values were cut')
  t.equal(listed.truncated, object.truncated)
  t.same((listed.attributes as AttributeList).toMap(), object.attributes)
  t.end()
})

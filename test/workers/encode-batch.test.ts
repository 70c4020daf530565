/**
 * What a worker thread does with a batch, in this thread: byte for byte the records the main thread's mapping and
 * encoder make, with the same keys, malformed reasons, truncation and dropped-attribute counts.
 */
import { createHash } from 'node:crypto'
import t from 'tap'
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer'
import { keyFieldsKept, OtlpProtoLogsEncoder } from '../../src/export/otlp-proto-encoder.js'
import { SCOPE_NAME } from '../../src/export/resource.js'
import { SdkRecordFactory } from '../../src/export/sdk-records.js'
import { joinedKeysKept } from '../../src/mapping/attributes.js'
import { INVALID_UTF8_REASON, mapEvent } from '../../src/mapping/index.js'
import { layoutsKept } from '../../src/mapping/uid.js'
import type { HrTime, MappedRecord } from '../../src/mapping/types.js'
import { EVENT_TYPES } from '../../src/siem/types.js'
import type { JsonValue } from '../../src/siem/types.js'
import { batchEncoder, isParseFailure } from '../../src/workers/encode-batch.js'
import type { EncodedBatch, WorkerSetup } from '../../src/workers/encode-batch.js'
import { bigTexts, mixedTexts, noTexts, rawOf } from './raw-events.js'
import type { Texts } from './raw-events.js'

const OBSERVED: HrTime = [1_764_000_000, 123_000_000]

/** The main thread's way: each text parsed, mapped (its text the body), encoded. */
function inThread(texts: Texts, setup: WorkerSetup): { records: MappedRecord[]; encoded: ReturnType<OtlpProtoLogsEncoder['encodeRecords']> } {
  const records = EVENT_TYPES.flatMap((type) => texts[type].map((s) => mapEvent(JSON.parse(s) as JsonValue, type, setup.mapping, OBSERVED, s)))
  const encoder = new OtlpProtoLogsEncoder({ resourceAttributes: { 'service.name': 'x' }, scope: { name: 's', version: '1' }, ...setup })
  return { records, encoded: encoder.encodeRecords(records) }
}

const SETUPS: Array<[string, WorkerSetup]> = [
  ['defaults (flat, json body, indicators, standard fields)', { mapping: { attributeShape: 'flat', body: 'json', indicators: true, standardFields: true } }],
  ['nested, body map', { mapping: { attributeShape: 'nested', body: 'map' } }],
  ['limits: 12 attributes, values cut at 16', { mapping: { attributeShape: 'flat', body: 'none', indicators: true, attributeValueLengthLimit: 16 }, attributeCountLimit: 12, attributeValueLengthLimit: 16 }],
]

for (const [name, setup] of SETUPS) {
  t.test(`${name}: the same bytes and facts as mapping and encoding in the main thread`, (t) => {
    const texts = mixedTexts()
    const result = batchEncoder(setup)(rawOf(texts), OBSERVED)
    if (isParseFailure(result)) throw new Error(result.parseError)
    const want = inThread(texts, setup)
    const n = want.records.length
    t.ok(n > 60, `${n} events`)
    t.same(result.uids, want.records.map((r) => r.uid), 'keys, in order')
    t.same([...result.types], want.records.map((r) => EVENT_TYPES.indexOf(r.eventType)), 'types')
    t.same([...result.ends], want.encoded.ends, 'record boundaries')
    t.ok(Buffer.from(result.bytes).equals(want.encoded.bytes), 'the encoded records, byte for byte')
    t.same([...result.droppedAttributes], want.encoded.droppedAttributes, 'dropped attributes per record')
    t.same([...result.truncated], want.records.map((r) => r.truncated ?? 0), 'truncated values per record')
    t.same(result.malformed, want.records.flatMap((r, i) => (r.malformed.length > 0 ? [[i, r.malformed]] : [])), 'malformed reasons by record')
    t.ok(result.malformed.length >= 4, 'the malformed events are there, not dropped')
    if (setup.attributeCountLimit !== undefined) t.ok(result.droppedAttributes.some((d) => d > 0), 'the count limit did drop some')
    if (setup.attributeValueLengthLimit !== undefined) t.ok(result.truncated.some((d) => d > 0), 'the length limit did cut some')
    t.end()
  })
}

t.test('each batch owns the buffers it returns (they are transferred); the encoder buffer is reused inside', (t) => {
  const encode = batchEncoder(SETUPS[0]![1])
  const a = encode(rawOf(mixedTexts(20)), OBSERVED) as EncodedBatch
  const before = Buffer.from(a.bytes)
  const b = encode(rawOf(mixedTexts(40)), OBSERVED) as EncodedBatch
  t.ok(Buffer.from(a.bytes).equals(before), 'a later batch does not overwrite an earlier one')
  for (const arr of [a.bytes, a.ends, a.droppedAttributes, a.truncated, a.types]) t.equal(arr.byteOffset === 0 && arr.buffer.byteLength === arr.byteLength, true, 'a whole buffer')
  t.not(a.bytes.buffer, b.bytes.buffer)
  t.end()
})

t.test('an event that is not JSON: the batch fails, naming the array and the index in the API answer', (t) => {
  const texts = noTexts()
  texts.messagesDelivered.push('{"a":1}')
  texts.clicksPermitted.push('{"ok":true}', '{"broken":}')
  const result = batchEncoder(SETUPS[0]![1])(rawOf(texts, [0, 0, 40, 0]), OBSERVED)
  t.ok(isParseFailure(result))
  t.match(isParseFailure(result) ? result.parseError : '', /^malformed JSON in clicksPermitted\[41\]: /)
  t.end()
})

t.test("the body is the API's own bytes: copied when valid UTF-8, else the decoded text (U+FFFD) as the main thread encodes it", (t) => {
  const good = Buffer.from('{"GUID":"g1","subject":"caf\u00e9 \ud83d\ude00 \\u00e9","spamScore":0.0,"n":1e3}')
  // 0xff is never UTF-8; 0xed 0xa0 0x80 is an encoded surrogate (CESU-8), which UTF-8 forbids too.
  const bad = Buffer.concat([Buffer.from('{"GUID":"g2","subject":"a'), Buffer.from([0xff, 0x20, 0xed, 0xa0, 0x80]), Buffer.from('b"}')])
  const bytes = Buffer.concat([good, bad])
  const raw = { bytes: new Uint8Array(bytes), ends: Uint32Array.from([good.length, bytes.length]), counts: [2, 0, 0, 0], first: [0, 0, 0, 0] }
  const setup = SETUPS[0]![1]
  const result = batchEncoder(setup)(raw, OBSERVED) as EncodedBatch
  const texts = noTexts()
  texts.messagesDelivered.push(good.toString('utf8'), bad.toString('utf8'))
  t.match(texts.messagesDelivered[1], /a\ufffd \ufffd{1,3}b/, 'the bad bytes decode to U+FFFD')
  const want = inThread(texts, setup)
  t.ok(Buffer.from(result.bytes).equals(want.encoded.bytes), 'the same records as encoding the decoded texts')
  t.ok(Buffer.from(result.bytes).includes(good), 'the valid event is in the record as sent, byte for byte')
  t.notOk(Buffer.from(result.bytes).includes(bad), 'the invalid bytes are not passed on')
  t.same(result.malformed.map(([i, reasons]) => [i, reasons.includes(INVALID_UTF8_REASON)]), [[0, false], [1, true]], 'and the event is counted malformed for them, the valid one not')
  t.end()
})

t.test('an empty batch', (t) => {
  const result = batchEncoder(SETUPS[0]![1])(rawOf(noTexts()), OBSERVED) as EncodedBatch
  t.same([result.bytes.length, result.uids.length], [0, 0])
  t.end()
})


t.test('a recycled buffer large enough is encoded into (the same bytes); one too small is not used', (t) => {
  const encode = batchEncoder(SETUPS[0]![1])
  const texts = mixedTexts(30)
  const fresh = encode(rawOf(texts), OBSERVED) as EncodedBatch
  const big = new ArrayBuffer(fresh.bytes.length + 1000)
  const reused = encode(rawOf(texts), OBSERVED, big) as EncodedBatch
  t.equal(reused.bytes.buffer, big, 'encoded into the recycled buffer')
  t.equal(reused.bytes.byteOffset, 0)
  t.ok(Buffer.from(reused.bytes).equals(Buffer.from(fresh.bytes)), 'the same bytes')
  const small = new ArrayBuffer(10)
  t.not((encode(rawOf(texts), OBSERVED, small) as EncodedBatch).bytes.buffer, small, 'too small: a new one')
  t.end()
})

/** Canonical JSON the plain way (keys sorted at every level; no messageParts here): the uid's text. */
function sortedJson(v: unknown): string {
  if (typeof v !== 'object' || v === null) return JSON.stringify(v)
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`
  const o = v as Record<string, unknown>
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${sortedJson(o[k])}`).join(',')}}`
}

t.test('long field names of their own (from the API, up to 1 MiB each) are not kept by the key caches; the records are the same', (t) => {
  const setup = SETUPS[0]![1]
  const encode = batchEncoder(setup)
  const kept = (): number[] => [layoutsKept(), joinedKeysKept(), keyFieldsKept()]
  const event = (i: number, name: string): string => JSON.stringify({ messageTime: '2026-11-24T11:00:00Z', GUID: `g${i}`, [name]: 1, vendor: { [name]: 'v', [`${name}2`]: { [name]: [2] } } })
  // The same events with short names: what is kept of them is kept now.
  encode(rawOf({ ...noTexts(), messagesDelivered: [event(0, 'short')] }), OBSERVED)
  const before = kept()
  const texts = noTexts()
  // At the top, as a flattened member, and as the keys of a nested object.
  for (let i = 0; i < 40; i++) texts.messagesDelivered.push(event(i, `f${i}_` + 'k'.repeat(i % 2 === 0 ? 3000 : 100_000)))
  const result = encode(rawOf(texts), OBSERVED) as EncodedBatch
  t.same(kept(), before, 'no layout, joined key or encoded key kept for them')

  const events = texts.messagesDelivered.map((s) => JSON.parse(s) as JsonValue)
  t.same(result.uids, events.map((e) => createHash('sha256').update(`messagesDelivered\n${sortedJson(e)}`).digest('hex')), 'the uids: canonical JSON with sorted keys')
  // Against the SDK's serializer, which has no caches: the same request, byte for byte.
  const factory = new SdkRecordFactory({ serviceName: 's', serviceVersion: '1', resourceAttributes: {} })
  t.teardown(() => factory.shutdown())
  const records = events.map((e, i) => mapEvent(e, 'messagesDelivered', setup.mapping, OBSERVED, texts.messagesDelivered[i]))
  t.same(kept(), before, 'nor by mapping them in this thread')
  const sdk = Buffer.from(ProtobufLogsSerializer.serializeRequest(factory.toSdkRecords(records)) ?? new Uint8Array(0))
  const encoder = new OtlpProtoLogsEncoder({ resourceAttributes: factory.resource.attributes, scope: { name: SCOPE_NAME, version: '1' } })
  t.ok(encoder.request(Buffer.from(result.bytes)).body.equals(sdk), 'the same bytes as the SDK')

  // The common case is unchanged: a new short name is kept.
  encode(rawOf({ ...noTexts(), messagesDelivered: [event(1, 'shortName')] }), OBSERVED)
  t.ok(kept().every((n, i) => n > before[i]!), `short names are kept (${kept().join(', ')})`)
  t.end()
})

t.test("the encoder buffer kept for the next batch: a big batch's is let go once 128 batches after it needed far less", (t) => {
  const encode = batchEncoder(SETUPS[0]![1])
  const small = rawOf(mixedTexts(1))
  encode(small, OBSERVED)
  const normal = encode.keptBytes()
  t.ok(normal > 0, `kept: ${normal} bytes`)
  encode(rawOf(bigTexts(16, 900)), OBSERVED)
  t.ok(encode.keptBytes() > 8 << 20, `the burst's, while such batches are recent: ${encode.keptBytes()} bytes`)
  for (let i = 0; i < 129; i++) encode(small, OBSERVED)
  t.equal(encode.keptBytes(), normal, 'what normal batches need')
  t.end()
})

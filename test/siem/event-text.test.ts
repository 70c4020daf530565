/**
 * Each event's own text, as the parser and the client hand it over beside the event (the `json` body of its record):
 * byte-equal to what the API sent, however the body is cut into chunks, and index-aligned with the events.
 */
import { gzipSync } from 'node:zlib'
import fc from 'fast-check'
import t from 'tap'
import type { Test } from 'tap'
import { INVALID_UTF8_REASON, mapResponse } from '../../src/mapping/index.js'
import { SiemClient } from '../../src/siem/client.js'
import { SiemBodyParser } from '../../src/siem/response-parser.js'
import { EVENT_TYPES } from '../../src/siem/types.js'
import type { EventType, JsonValue, RawEvents } from '../../src/siem/types.js'
import { API_TEXTS, apiBody, serveInPieces } from '../helpers/api-bytes.js'

const SEED = process.env.FC_SEED !== undefined && process.env.FC_SEED !== '' ? Number(process.env.FC_SEED) : (Date.now() ^ (Math.random() * 0x100000000)) | 0
const NUM_RUNS = Number(process.env.FC_NUM_RUNS ?? 200)
t.comment(`fast-check seed ${SEED} (FC_SEED=${SEED} to reproduce), ${NUM_RUNS} runs per property`)

type Texts = Record<EventType, string[]>
type Events = Record<EventType, JsonValue[]>

/** Feeds `body` cut at `cuts` (sorted offsets) to `p`, draining after every chunk into `take`, then the end. */
function feedCut<B>(p: { write(c: Buffer): void; pending: number; drain(): B; end(): B }, body: Buffer, cuts: readonly number[], take: (batch: B) => void): void {
  let from = 0
  for (const cut of [...cuts, body.length]) {
    p.write(body.subarray(from, cut))
    from = cut
    if (p.pending > 0) take(p.drain())
  }
  take(p.end())
}

/** Feeds `body` cut at `cuts` (sorted offsets), draining after every chunk: everything handed over, in order. */
function parseCut(body: Buffer, cuts: readonly number[], wanted: readonly EventType[] = EVENT_TYPES): { events: Events; texts: Texts; invalidUtf8?: Set<string> } {
  const p = new SiemBodyParser(wanted)
  const events: Events = { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
  const texts: Texts = { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
  let invalidUtf8: Set<string> | undefined
  const take = (batch: { events: Events; texts?: Texts; invalidUtf8?: ReadonlySet<string> }): void => {
    for (const type of EVENT_TYPES) {
      events[type].push(...batch.events[type])
      texts[type].push(...batch.texts![type])
    }
    for (const text of batch.invalidUtf8 ?? []) (invalidUtf8 ??= new Set()).add(text)
  }
  feedCut(p, body, cuts, take)
  return invalidUtf8 === undefined ? { events, texts } : { events, texts, invalidUtf8 }
}

/** The texts are the API's, and each parses to the event handed over beside it. */
function sameAsSent(t: Test, got: { events: Events; texts: Texts }, sent: Texts, what: string): void {
  for (const type of EVENT_TYPES) {
    t.same(got.texts[type], sent[type], `${what}: ${type} texts byte for byte`)
    t.same(got.events[type], sent[type].map((s) => JSON.parse(s) as JsonValue), `${what}: ${type} events aligned with their texts`)
  }
}

t.test('escapes, unicode, 0.0 / 1e3 / -0, key order and white space inside an event: the text is the API bytes', (t) => {
  const body = apiBody()
  const whole = parseCut(body, [])
  sameAsSent(t, whole, API_TEXTS, 'one chunk')
  const esc = whole.texts.messagesDelivered[0] ?? ''
  for (const kept of ['\\"quoted\\"', '\\\\ back\\/slash', '\\u00e9', '\\ud83d\\ude00', '\\u00E9', '"impostorScore":0.0', '"spamScore":1e3', '"phishScore":-0', '1E-7', '12.50']) {
    t.ok(esc.includes(kept), `kept as sent: ${kept}`)
  }
  t.notOk(esc.includes('é'), 'an escaped é stays an escape')
  t.ok(whole.texts.messagesBlocked[0]?.startsWith('{"zeta":1,"10":"ten"'), 'key order as sent (JSON.stringify puts integer-like keys first)')
  t.ok(whole.texts.clicksPermitted[0]?.includes('"x":1,"x":2'), 'a repeated key stays in the text (the event has the last value, as JSON.parse)')
  t.equal((whole.events.clicksPermitted[0] as { x: number }).x, 2)
  t.end()
})

t.test('an event split across chunks at every byte offset: the same texts', (t) => {
  const body = apiBody()
  let wrong = 0
  for (let cut = 1; cut < body.length; cut++) {
    const got = parseCut(body, [cut])
    for (const type of EVENT_TYPES) if (JSON.stringify(got.texts[type]) !== JSON.stringify(API_TEXTS[type])) wrong++
  }
  t.equal(wrong, 0, `${body.length - 1} two-chunk splits, every text byte-equal`)
  sameAsSent(t, parseCut(body, Array.from({ length: body.length - 1 }, (_, i) => i + 1)), API_TEXTS, 'one byte at a time')
  t.end()
})

t.test('property: any events, any spelling, cut at random points: texts byte-equal to the API, aligned with the events', (t) => {
  const numbers = fc.constantFrom('0.0', '1e3', '-0', '1E+2', '0.10', '-1.50e-3', '100000000000000000000001', '5')
  const spaced = fc.tuple(fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }), fc.constantFrom(undefined, 1, '\t', ' \r')).map(([v, gap]) => JSON.stringify(v, null, gap))
  const withNumber = fc.tuple(numbers, fc.jsonValue({ maxDepth: 2, stringUnit: 'grapheme' }), fc.constantFrom('', ' ', '\n\t')).map(([n, v, ws]) => `{${ws}"n"${ws}:${ws}${n}${ws},"v":${JSON.stringify(v)}${ws}}`)
  const text = fc.oneof(spaced, withNumber, fc.constantFrom(...EVENT_TYPES.flatMap((type) => API_TEXTS[type])))
  const texts = fc.record({
    messagesDelivered: fc.array(text, { maxLength: 4 }),
    messagesBlocked: fc.array(text, { maxLength: 2 }),
    clicksPermitted: fc.array(text, { maxLength: 2 }),
    clicksBlocked: fc.array(text, { maxLength: 2 }),
  })
  try {
    fc.assert(
      fc.property(texts, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), (sent, at) => {
        const body = apiBody(sent)
        const cuts = [...new Set(at.map((x) => Math.floor(x * body.length)))].filter((c) => c > 0 && c < body.length).sort((a, b) => a - b)
        const got = parseCut(body, cuts)
        for (const type of EVENT_TYPES) {
          if (JSON.stringify(got.texts[type]) !== JSON.stringify(sent[type])) return false
          if (JSON.stringify(got.events[type]) !== JSON.stringify(sent[type].map((s) => JSON.parse(s) as JsonValue))) return false
        }
        return true
      }),
      { seed: SEED, numRuns: NUM_RUNS, includeErrorInReport: true },
    )
    t.pass('every text as sent')
  } catch (err) {
    t.fail(err instanceof Error ? err.message : String(err))
  }
  t.end()
})

t.test('texts follow the events: a repeated array adds to both, unwanted types and null arrays have none', (t) => {
  const p = new SiemBodyParser(['messagesBlocked', 'clicksPermitted'])
  p.write(Buffer.from('{"messagesBlocked":[{"a":1.0}],"clicksBlocked":[{"skipped":true}],"messagesBlocked":[ {"b" : 2.0} ],"clicksPermitted":null}'))
  const r = p.end()
  t.same(r.texts, { messagesDelivered: [], messagesBlocked: ['{"a":1.0}', '{"b" : 2.0}'], clicksPermitted: [], clicksBlocked: [] })
  t.same(r.events.messagesBlocked, [{ a: 1 }, { b: 2 }])

  const s = new SiemBodyParser()
  s.write(Buffer.from('{"messagesDelivered":[1e3, "x\\u0041" ,-0,null,[ 0.0 ]]}'))
  t.same(s.end().texts.messagesDelivered, ['1e3', '"x\\u0041"', '-0', 'null', '[ 0.0 ]'], 'elements that are not objects: their text too, no white space around')
  t.end()
})

t.test('a repeated or null event array drops nothing, whatever the batches (JSON.parse would keep the last array only)', (t) => {
  const body = '{"messagesDelivered":[{"a":1},{"a":2},{"a":3}],"messagesDelivered":[{"b":1}],"clicksBlocked":[{"c":1},{"c":2}],"clicksBlocked":null}'
  const p = new SiemBodyParser()
  p.write(Buffer.from(body))
  t.equal(p.pending, 6, 'three, one more, two, and none')
  const all = p.drain().events
  t.same(all.messagesDelivered, [{ a: 1 }, { a: 2 }, { a: 3 }, { b: 1 }])
  t.same(all.clicksBlocked, [{ c: 1 }, { c: 2 }])
  // Drained after every byte (batches of one): the same events.
  const q = new SiemBodyParser()
  const got: JsonValue[] = []
  for (const byte of Buffer.from(body)) {
    q.write(Buffer.from([byte]))
    got.push(...q.drain().events.messagesDelivered)
  }
  t.same(got, all.messagesDelivered, 'batch size does not change what is kept')
  t.end()
})

t.test('invalid UTF-8 inside an event: text and event both have U+FFFD where the bad bytes were', (t) => {
  const body = Buffer.concat([Buffer.from('{"messagesDelivered":[{"subject":"a'), Buffer.from([0xff, 0xc3]), Buffer.from('b"}]}')])
  for (const cuts of [[], [35], [36], [37]]) {
    const got = parseCut(body, cuts)
    const text = got.texts.messagesDelivered[0] ?? ''
    t.equal(text, '{"subject":"a\ufffd\ufffdb"}', `cut at ${cuts.join() || 'none'}`)
    t.same(got.events.messagesDelivered[0], JSON.parse(text), 'the event says what the text says')
    t.same([...(got.invalidUtf8 ?? [])], [text], 'and the batch says the text had invalid bytes')
  }
  const valid = parseCut(Buffer.from('{"messagesDelivered":[{"subject":"a\ufffd \\ufffd"}]}'), [])
  t.equal(valid.invalidUtf8, undefined, 'a U+FFFD the API sent (as UTF-8 or escaped) is not invalid UTF-8')
  const mapped = mapResponse(parseCut(body, [36]), { attributeShape: 'flat', body: 'json' }, [0, 0])
  t.same(mapped[0]?.malformed, ['messageTime missing', INVALID_UTF8_REASON], 'mapped: counted malformed, saying why')
  t.end()
})

// ---------------------------------------------------------------- through the client, over HTTP

async function viaClient(tt: Test, url: string, batchEvents: number): Promise<{ events: Events; texts: Texts; batches: number }> {
  const c = new SiemClient({ baseUrl: url, principal: 'p', getSecret: () => 's', eventTypes: [...EVENT_TYPES], timeoutMs: 5000 })
  tt.teardown(() => c.close())
  const events: Events = { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
  const texts: Texts = { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
  let batches = 0
  for await (const batch of c.events({ start: new Date('2026-11-24T11:00:00Z'), end: new Date('2026-11-24T12:00:00Z') }, undefined, batchEvents)) {
    batches++
    for (const type of EVENT_TYPES) {
      events[type].push(...batch.events[type])
      texts[type].push(...(batch.texts?.[type] ?? []))
    }
  }
  return { events, texts, batches }
}

t.test('client: events split across network chunks (inside an escape, a multibyte character, 0.0) keep their texts, batch by batch', async (t) => {
  const body = apiBody()
  const at = (needle: string, plus: number): number => body.indexOf(needle) + plus
  // Inside \ud83d\ude00, between the two bytes of Ä, inside 0.0, inside a CR LF, and at the comma between two events.
  const cuts = [at('\\ud83d', 3), at('\\ude00', 1), at('Ärger', 1), at('0.0', 2), at('\r\n', 1), at('},\n', 1)].sort((a, b) => a - b)
  const got = await viaClient(t, await serveInPieces(t, body, cuts), 1)
  sameAsSent(t, got, API_TEXTS, 'chunked over HTTP, one event per batch')
  t.comment(`${got.batches} batches`) // how the chunks arrive is up to TCP: the parser tests above cut at every offset

  const gz = gzipSync(body)
  const zipped = await viaClient(t, await serveInPieces(t, gz, [7, Math.floor(gz.length / 2)], { 'content-encoding': 'gzip' }), 1000)
  sameAsSent(t, zipped, API_TEXTS, 'gzip: the decoded bytes')
})

/** Raw mode (worker threads): the batches' elements as bytes, unparsed. Decoded per element: the texts, by type. */
function parseCutRaw(body: Buffer, cuts: readonly number[], wanted: readonly EventType[] = EVENT_TYPES): { texts: Texts; first: Record<EventType, number[]> } {
  const p = new SiemBodyParser(wanted, true)
  const texts: Texts = { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
  const first: Record<EventType, number[]> = { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
  const take = (batch: { events: Events; raw?: RawEvents }): void => {
    const raw = batch.raw!
    t.ok(EVENT_TYPES.every((type) => batch.events[type].length === 0), 'nothing parsed in raw mode')
    t.equal(raw.bytes.byteOffset === 0 && raw.bytes.buffer.byteLength === raw.bytes.length, true, 'a buffer of its own: transferable')
    let i = 0
    for (const [n, type] of EVENT_TYPES.entries()) {
      if (raw.counts[n]! > 0) first[type].push(raw.first[n]!)
      for (let k = 0; k < raw.counts[n]!; k++, i++) texts[type].push(Buffer.from(raw.bytes.subarray(i === 0 ? 0 : raw.ends[i - 1], raw.ends[i])).toString('utf8'))
    }
    t.equal(i, raw.ends.length, 'the counts add up to the elements')
  }
  feedCut(p, body, cuts, take)
  return { texts, first }
}

t.test('raw mode: the same texts as the parsing mode, at every two-chunk split and one byte at a time; array indices kept', (t) => {
  const body = apiBody()
  let wrong = 0
  for (let cut = 1; cut < body.length; cut += 7) {
    const got = parseCutRaw(body, [cut])
    for (const type of EVENT_TYPES) if (JSON.stringify(got.texts[type]) !== JSON.stringify(API_TEXTS[type])) wrong++
  }
  t.equal(wrong, 0, 'every text byte-equal')
  const bytewise = parseCutRaw(body, Array.from({ length: body.length - 1 }, (_, i) => i + 1))
  t.same(bytewise.texts, API_TEXTS, 'one byte at a time')
  // Drained after every byte: each element in its own batch, with its index in the API's array.
  t.same(bytewise.first.messagesDelivered, API_TEXTS.messagesDelivered.map((_, i) => i), 'each batch says where its elements stood')
  t.end()
})

t.test('raw mode: a repeated array adds to what is pending of its type; unwanted types are skipped', (t) => {
  const p = new SiemBodyParser(['messagesDelivered', 'clicksPermitted'], true)
  p.write(Buffer.from('{"messagesDelivered":[{"a":1},{"a":2}],"clicksPermitted":[ {"c" : 1.0} ],"clicksBlocked":[{"x":1}],"messagesDelivered":[{"b":1}]}'))
  t.equal(p.pending, 4)
  const raw = p.end().raw!
  t.same(raw.counts, [3, 0, 1, 0])
  t.same(raw.first, [0, 0, 0, 0])
  t.equal(Buffer.from(raw.bytes).toString(), '{"a":1}{"a":2}{"b":1}{"c" : 1.0}', 'by type in API order, white space inside kept')
  t.same([...raw.ends], [7, 14, 21, 32])
  t.end()
})

t.test('raw mode: an element that is not JSON is not this parser\'s to find (the worker does), but broken structure is', (t) => {
  const p = new SiemBodyParser(EVENT_TYPES, true)
  p.write(Buffer.from('{"messagesDelivered":[{"a":},{"b":1}]}'))
  t.equal(Buffer.from(p.end().raw!.bytes).toString(), '{"a":}{"b":1}')
  const q = new SiemBodyParser(EVENT_TYPES, true)
  t.throws(() => q.write(Buffer.from('{"messagesDelivered":[{"a":1} x]}')), /expected ',' or ']' in messagesDelivered/)
  t.end()
})

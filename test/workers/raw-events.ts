/** Raw batches (what the SIEM client hands the worker pool) built from event texts, and the events tests use. */
import { readFileSync } from 'node:fs'
import { generateEvents } from '../../src/simulator/index.js'
import { EVENT_TYPES } from '../../src/siem/types.js'
import type { EventType, RawEvents } from '../../src/siem/types.js'
import { API_TEXTS } from '../helpers/api-bytes.js'

export type Texts = Record<EventType, string[]>

export function noTexts(): Texts {
  return { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
}

export function rawOf(texts: Texts, first: number[] = [0, 0, 0, 0]): RawEvents {
  const parts = EVENT_TYPES.flatMap((type) => texts[type].map((s) => Buffer.from(s)))
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  const ends = new Uint32Array(parts.length)
  let at = 0
  parts.forEach((p, i) => {
    bytes.set(p, at)
    at += p.length
    ends[i] = at
  })
  return { bytes, ends, counts: EVENT_TYPES.map((type) => texts[type].length), first }
}

/** Realistic generated events, the published TAP samples, the hand-spelled API texts, and malformed events. */
export function mixedTexts(generated = 60): Texts {
  const texts = noTexts()
  for (const g of generateEvents(Date.parse('2026-11-24T11:00:00Z'), Date.parse('2026-11-24T12:00:00Z'), { seed: 5, eventsPerMinute: generated / 60 })) {
    texts[g.type].push(JSON.stringify(g.event))
  }
  const published = JSON.parse(readFileSync(new URL('../../../test/fixtures/published/demisto-proofpoint-tap-v2.json', import.meta.url), 'utf8')) as Record<string, unknown[]>
  for (const type of EVENT_TYPES) {
    for (const e of published[type] ?? []) texts[type].push(JSON.stringify(e))
    texts[type].push(...API_TEXTS[type])
  }
  // Malformed: counted and exported as received.
  texts.messagesDelivered.push('"not an object"', '{"GUID":"m1","messageTime":"yesterday","spamScore":"high","toAddresses":"a@b.example"}', 'null')
  texts.clicksBlocked.push('{"GUID":"c1","clickTime":12,"url":["x"],"clickIP":"400.000.000"}')
  return texts
}

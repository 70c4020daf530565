/** Raw batches (what the SIEM client hands the worker pool) built from event texts, and the events tests use. */
import { readFileSync } from 'node:fs'
import type { Test } from 'tap'
import type { BatchMapper } from '../../src/poller/index.js'
import { isParseFailure } from '../../src/workers/encode-batch.js'
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

/** `n` messages of about `kb` KB each (a long subject): a burst of big events. */
export function bigTexts(n: number, kb: number): Texts {
  const texts = noTexts()
  for (let i = 0; i < n; i++) texts.messagesDelivered.push(JSON.stringify({ messageTime: '2026-11-24T11:00:00Z', GUID: `big-${i}`, subject: 's'.repeat(kb * 1000) }))
  return texts
}

/**
 * Runs a batch as runWindow does: its bytes cut into the mapper's rawBuffer, the result recycled (every record
 * answered). Returns the size of the result's buffer (a pool hands it to a thread with the next batch).
 */
async function runRecycled(mapper: BatchMapper, texts: Texts): Promise<number> {
  const raw = rawOf(texts)
  const bytes = mapper.rawBuffer!(raw.bytes.length)
  bytes.set(raw.bytes)
  const result = await mapper.run({ ...raw, bytes }, [1_764_000_000, 0])
  if (isParseFailure(result)) throw new Error(result.parseError)
  const buffer = result.bytes.buffer as ArrayBuffer
  mapper.recycle!(buffer)
  return buffer.byteLength
}

/**
 * One batch of big events (16 of 900 KB): its buffers are reused by the next batches, and let go once 128 batches
 * after it needed far less: the mapper keeps what normal batches need, not the burst's 14 MB.
 */
export async function assertBurstLetGo(t: Test, mapper: BatchMapper): Promise<void> {
  const small = mixedTexts(1)
  await runRecycled(mapper, small)
  const big = await runRecycled(mapper, bigTexts(16, 900))
  t.ok(big > 8 << 20, `the burst's result: ${big} bytes`)
  t.equal(await runRecycled(mapper, small), big, 'right after it, its buffer is reused')
  for (let i = 0; i < 128; i++) await runRecycled(mapper, small)
  const after = await runRecycled(mapper, small)
  t.ok(after < 1 << 20, `128 batches later, a result buffer normal batches need: ${after} bytes`)
  t.ok(mapper.rawBuffer!(100).buffer.byteLength < 1 << 20, 'and a raw buffer')
}

/**
 * What a worker thread does with one batch (also callable in the main thread, for tests): the raw events' bytes →
 * JSON.parse → mapEvent → OtlpProtoLogsEncoder, the result flat and transferable (typed arrays, one byte buffer).
 */
import { isUtf8 } from 'node:buffer'
import { OtlpProtoLogsEncoder } from '../export/otlp-proto-encoder.js'
import type { EncodableRecord } from '../export/otlp-proto-encoder.js'
import { INVALID_UTF8_REASON, mapEventListed } from '../mapping/map-event.js'
import type { HrTime, MappingOptions } from '../mapping/types.js'
import { EVENT_TYPES } from '../siem/types.js'
import type { JsonValue, RawEvents } from '../siem/types.js'
import { RecentNeed } from '../spare-buffers.js'

/** What a worker is started with: what the main thread would map and encode with. */
export interface WorkerSetup {
  mapping: MappingOptions
  attributeCountLimit?: number
  attributeValueLengthLimit?: number
}

/** A batch mapped and encoded, record i from raw event i. */
export interface EncodedBatch {
  /** Each record's `log_records` field, back to back; record i is bytes[ends[i - 1] ?? 0, ends[i]). Starts its buffer (which may be longer). */
  bytes: Uint8Array
  ends: Uint32Array
  droppedAttributes: Uint32Array
  truncated: Uint32Array
  /** Index into EVENT_TYPES. */
  types: Uint8Array
  uids: string[]
  /** The malformed records' reasons, by record index. */
  malformed: Array<[number, string[]]>
}

/** An event that is not JSON: the API's answer is broken (the tokenizer's message, had it parsed the event itself). */
export interface BatchParseFailure {
  parseError: string
}

export type BatchResult = EncodedBatch | BatchParseFailure

export function isParseFailure(r: BatchResult): r is BatchParseFailure {
  return (r as BatchParseFailure).parseError !== undefined
}

export interface BatchEncoder {
  (raw: RawEvents, observed: HrTime, reuse?: ArrayBuffer): BatchResult
  /** Bytes of the encoder buffer kept for the next batch (tests). */
  keptBytes(): number
}

export function batchEncoder(setup: WorkerSetup): BatchEncoder {
  // Only encodeRecords is used: the resource and scope are the main thread's, around the records.
  const encoder = new OtlpProtoLogsEncoder({
    resourceAttributes: {},
    scope: { name: '', version: '' },
    ...(setup.attributeCountLimit === undefined ? {} : { attributeCountLimit: setup.attributeCountLimit }),
    ...(setup.attributeValueLengthLimit === undefined ? {} : { attributeValueLengthLimit: setup.attributeValueLengthLimit }),
  })
  // The encoder's buffer is reused from batch to batch (what leaves the worker is a copy), unless it grew much larger
  // than recent batches need.
  let storage: Buffer | undefined
  const need = new RecentNeed()
  const encode = (raw: RawEvents, observed: HrTime, reuse?: ArrayBuffer): BatchResult => {
    const n = raw.ends.length
    const source = Buffer.from(raw.bytes.buffer, raw.bytes.byteOffset, raw.bytes.byteLength)
    const out = encoder.recordsWriter(n, storage)
    const types = new Uint8Array(n)
    const malformed: Array<[number, string[]]> = []
    const truncated = new Uint32Array(n)
    const uids = new Array<string>(n)
    let i = 0
    for (const [t, type] of EVENT_TYPES.entries()) {
      for (let k = 0; k < raw.counts[t]!; k++, i++) {
        const start = i === 0 ? 0 : raw.ends[i - 1]!
        const text = source.toString('utf8', start, raw.ends[i])
        let event: JsonValue
        try {
          event = JSON.parse(text) as JsonValue
        } catch (err) {
          return { parseError: `malformed JSON in ${type}[${raw.first[t]! + k}]: ${(err as Error).message}` }
        }
        // Encoded at once: the record is garbage before the next event is parsed.
        const r: EncodableRecord & ReturnType<typeof mapEventListed> = mapEventListed(event, type, setup.mapping, observed, text)
        // The body is the text (json mode): its bytes are copied, not encoded again (~2 µs an event), when they are
        // valid UTF-8, which decoding leaves as they are (else the text holds U+FFFD and is encoded as such).
        const bytes = source.subarray(start, raw.ends[i])
        const validUtf8 = isUtf8(bytes)
        if (!validUtf8) r.malformed.push(INVALID_UTF8_REASON)
        else if (r.body === text) r.bodyUtf8 = bytes
        out.add(r)
        types[i] = t
        uids[i] = r.uid
        truncated[i] = r.truncated ?? 0
        if (r.malformed.length > 0) malformed.push([i, r.malformed])
      }
    }
    const encoded = out.end()
    need.note(encoded.bytes.length)
    storage = need.keeps(encoded.storage.length) ? encoded.storage : undefined
    // A buffer of its own, so that it can be transferred (a small one may lie in Node's shared pool): a recycled one
    // when it is large enough (its first bytes are the batch's).
    const size = encoded.bytes.length
    const bytes = reuse !== undefined && reuse.byteLength >= size ? new Uint8Array(reuse, 0, size) : new Uint8Array(size)
    bytes.set(encoded.bytes)
    return { bytes, ends: Uint32Array.from(encoded.ends), droppedAttributes: Uint32Array.from(encoded.droppedAttributes), truncated, types, uids, malformed }
  }
  return Object.assign(encode, { keptBytes: () => storage?.length ?? 0 })
}

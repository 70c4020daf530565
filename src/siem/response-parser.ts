/** Assembles the events of a SIEM API JSON body, by type and each with its own text, in batches while the body streams in. */
import { parseApiTime } from './api-clock.js'
import { BodyFormatError } from './body-format.js'
import { JsonObjectTokenizer } from './json-tokenizer.js'
import { EVENT_TYPES } from './types.js'
import type { EventBatch, EventType, JsonValue, RawEvents, RawMode, SiemResponse } from './types.js'

interface ParsedBody extends SiemResponse {
  texts: Record<EventType, string[]>
  /** Raw mode: the events not handed over yet, unparsed. */
  raw?: RawEvents
  /** True when the body held nothing but white space (answered like a 204). */
  empty: boolean
}

export function noEvents(): Record<EventType, JsonValue[]> {
  return { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
}

function noTexts(): Record<EventType, string[]> {
  return { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
}

function noParts(): Record<EventType, Buffer[]> {
  return { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
}

/** The events a parser in raw mode handed over or holds: how many. */
export function batchSize(batch: EventBatch): number {
  return batch.raw ? batch.raw.ends.length : EVENT_TYPES.reduce((n, t) => n + batch.events[t].length, 0)
}

export class SiemBodyParser extends JsonObjectTokenizer {
  private readonly wanted: ReadonlySet<EventType>
  private events = noEvents()
  private texts = noTexts()
  /** Texts of the events held whose bytes were not valid UTF-8. */
  private invalidUtf8: Set<string> | undefined
  private buffered = 0
  private queryEndTime: string | undefined
  /** Raw mode: each type's elements (views of the chunks), and the array index of the first one. */
  private parts = noParts()
  private first = [0, 0, 0, 0]
  /** A top-level field of the API's was seen; else the first few others, for the message. */
  private knownKey = false
  private readonly otherKeys: string[] = []

  private readonly rawBuffer: (size: number) => Uint8Array

  /** `raw`: elements are handed over as bytes, unparsed (see RawEvents), in buffers from `raw.buffer` when given. */
  constructor(wanted: Iterable<EventType> = EVENT_TYPES, raw: RawMode = false) {
    super()
    this.wanted = new Set(wanted)
    this.rawElements = raw !== false
    this.rawBuffer = typeof raw === 'object' ? (size) => raw.buffer(size) : (size) => new Uint8Array(size)
  }

  get pending(): number {
    return this.buffered
  }

  /** Hands over the events parsed so far. */
  drain(): EventBatch {
    const out: EventBatch = this.rawElements ? { events: noEvents(), raw: this.takeRaw() } : this.parsedBatch()
    this.events = noEvents()
    this.texts = noTexts()
    this.invalidUtf8 = undefined
    this.buffered = 0
    return out
  }

  /**
   * The stream ended: returns the parsed body, or throws BodyFormatError when it was cut short, or when it is a JSON
   * object with other fields but none of the API's (queryEndTime, the event arrays): a gateway's or a changed API's
   * answer, which would otherwise pass for a window without events and move the cursor over it.
   */
  end(): ParsedBody {
    const out: ParsedBody = { ...this.parsedBatch(), texts: this.texts, empty: this.finish() }
    if (!this.knownKey && this.otherKeys.length > 0) {
      const keys = this.otherKeys.map((k) => JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k)).join(', ')
      throw new BodyFormatError(`a JSON object with none of the SIEM API's fields (queryEndTime, ${EVENT_TYPES.join(', ')}) but ${keys}: not an answer to read as a window without events`)
    }
    if (this.queryEndTime !== undefined && parseApiTime(this.queryEndTime) === undefined) {
      // Read as absent, the cursor would pass the window's end while the API's data may end sooner.
      const shown = JSON.stringify(this.queryEndTime.length > 40 ? `${this.queryEndTime.slice(0, 40)}…` : this.queryEndTime)
      throw new BodyFormatError(`its queryEndTime ${shown} is not a time this receiver can read, so where the API's data ends is unknown`)
    }
    if (this.rawElements) out.raw = this.takeRaw()
    if (this.queryEndTime !== undefined) out.queryEndTime = this.queryEndTime
    return out
  }

  protected streamsArray(key: string): boolean {
    const eventArray = (EVENT_TYPES as readonly string[]).includes(key)
    if (eventArray || key === 'queryEndTime') this.knownKey = true
    else if (this.otherKeys.length < 3) this.otherKeys.push(key)
    return eventArray
  }

  /**
   * An event array. One that comes again (`{"messagesDelivered":[a,b],"messagesDelivered":[c]}`) adds its events to
   * the earlier ones, where JSON.parse would keep only the last: whether the first had been handed over already
   * depended on the batch size, and events the API sent are never dropped (dedup takes repeats).
   */
  protected startArray(): boolean {
    return this.wanted.has(this.key as EventType)
  }

  protected override rawElement(bytes: Buffer): void {
    const type = this.key as EventType
    const parts = this.parts[type]
    if (parts.length === 0) this.first[EVENT_TYPES.indexOf(type)] = this.index
    parts.push(bytes)
    this.buffered++
  }

  /** The raw elements held, copied back to back into a buffer of their own; the parser then holds none. */
  private takeRaw(): RawEvents {
    let total = 0
    let n = 0
    for (const type of EVENT_TYPES) {
      for (const p of this.parts[type]) total += p.length
      n += this.parts[type].length
    }
    const bytes = this.rawBuffer(total)
    const ends = new Uint32Array(n)
    const counts = [0, 0, 0, 0]
    let at = 0
    let i = 0
    for (const [t, type] of EVENT_TYPES.entries()) {
      for (const p of this.parts[type]) {
        bytes.set(p, at)
        at += p.length
        ends[i++] = at
      }
      counts[t] = this.parts[type].length
    }
    const raw = { bytes, ends, counts, first: this.first }
    this.parts = noParts()
    this.first = [0, 0, 0, 0]
    return raw
  }

  private parsedBatch(): EventBatch {
    return this.invalidUtf8 === undefined ? { events: this.events, texts: this.texts } : { events: this.events, texts: this.texts, invalidUtf8: this.invalidUtf8 }
  }

  protected element(value: JsonValue, text: string, validUtf8: boolean): void {
    this.events[this.key as EventType].push(value)
    this.texts[this.key as EventType].push(text)
    if (!validUtf8) (this.invalidUtf8 ??= new Set()).add(text)
    this.buffered++
  }

  protected member(value: JsonValue): void {
    if (this.streamed) {
      // A "[" would have started the streamed array: this is an object or a scalar.
      // null: no events of this type (an earlier array of it keeps its events).
      if (value !== null) throw new BodyFormatError(`"${this.key}" is ${typeof value === 'object' ? 'an object' : `a ${typeof value}`}, not an array`)
    } else if (this.key === 'queryEndTime' && typeof value === 'string') {
      this.queryEndTime = value
    }
  }
}

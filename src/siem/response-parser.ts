/** Assembles the events of a SIEM API JSON body, by type and each with its own text, in batches while the body streams in. */
import { BodyFormatError } from './body-format.js'
import { JsonObjectTokenizer } from './json-tokenizer.js'
import { EVENT_TYPES } from './types.js'
import type { EventBatch, EventType, JsonValue, SiemResponse } from './types.js'

interface ParsedBody extends SiemResponse {
  texts: Record<EventType, string[]>
  /** True when the body held nothing but white space (answered like a 204). */
  empty: boolean
}

export function noEvents(): Record<EventType, JsonValue[]> {
  return { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
}

function noTexts(): Record<EventType, string[]> {
  return { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
}

export class SiemBodyParser extends JsonObjectTokenizer {
  private readonly wanted: ReadonlySet<EventType>
  private events = noEvents()
  private texts = noTexts()
  private buffered = 0
  private queryEndTime: string | undefined

  constructor(wanted: Iterable<EventType> = EVENT_TYPES) {
    super()
    this.wanted = new Set(wanted)
  }

  get pending(): number {
    return this.buffered
  }

  /** Hands over the events parsed so far. After a drain, a repeated top-level key no longer replaces what was handed over. */
  drain(): Required<EventBatch> {
    const out = { events: this.events, texts: this.texts }
    this.events = noEvents()
    this.texts = noTexts()
    this.buffered = 0
    return out
  }

  /** The stream ended: returns the parsed body, or throws BodyFormatError when it was cut short. */
  end(): ParsedBody {
    const out: ParsedBody = { events: this.events, texts: this.texts, empty: this.finish() }
    if (this.queryEndTime !== undefined) out.queryEndTime = this.queryEndTime
    return out
  }

  protected streamsArray(key: string): boolean {
    return (EVENT_TYPES as readonly string[]).includes(key)
  }

  protected startArray(): boolean {
    this.replace(this.key as EventType) // a repeated key replaces the earlier value, as JSON.parse does
    return this.wanted.has(this.key as EventType)
  }

  /** Drops the events of `type` not handed over yet: they no longer count as pending either. */
  private replace(type: EventType): void {
    this.buffered -= this.events[type].length
    this.events[type] = []
    this.texts[type] = []
  }

  protected element(value: JsonValue, text: string): void {
    this.events[this.key as EventType].push(value)
    this.texts[this.key as EventType].push(text)
    this.buffered++
  }

  protected member(value: JsonValue): void {
    if (this.streamed) {
      // A "[" would have started the streamed array: this is an object or a scalar.
      if (value !== null) throw new BodyFormatError(`"${this.key}" is ${typeof value === 'object' ? 'an object' : `a ${typeof value}`}, not an array`)
      this.replace(this.key as EventType)
    } else if (this.key === 'queryEndTime' && typeof value === 'string') {
      this.queryEndTime = value
    }
  }
}

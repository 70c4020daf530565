/**
 * Incremental parser for a SIEM API JSON body: `{"queryEndTime": "...", "messagesDelivered": [...], ...}`.
 *
 * Why not one `JSON.parse`: an hour of a big tenant is hundreds of MB. Parsing it in one piece needs the whole body
 * as one string (V8 caps strings at ~512 M characters, and one non-Latin-1 character doubles the size), on top of
 * the bytes and the parsed objects. This parser walks the bytes as they arrive, cuts each element of the event
 * arrays out and `JSON.parse`s it alone, so peak memory is the parsed events plus one element, and there is no
 * size limit. Structure outside the elements is checked byte by byte; every element and every other value is
 * checked by `JSON.parse`, so the parser accepts what `JSON.parse` accepts for this shape of document.
 */
import { ReceiverError } from '../errors.js'
import { EVENT_TYPES } from './types.js'
import type { EventType, JsonValue } from './types.js'

/** The body is not the JSON the API documents. `detail` says what was found; the client adds a sanitized excerpt. */
export class BodyFormatError extends ReceiverError {
  constructor(detail: string) {
    super('PSR_ERR_SIEM_BODY_FORMAT', detail)
  }
}

export interface ParsedBody {
  queryEndTime?: string
  events: Record<EventType, JsonValue[]>
  /** True when the body held nothing but white space (answered like a 204). */
  empty: boolean
}

// Parser states.
const S_START = 0 // before the top-level '{'
const S_KEY_OR_END = 1 // after '{'
const S_KEY = 2 // after ',' at top level
const S_COLON = 3
const S_VALUE = 4
const S_AFTER_VALUE = 5 // ',' or '}'
const S_DONE = 6
const S_ARR_FIRST = 7 // after '[' of an event array: element or ']'
const S_ARR_ELEM = 8 // after ',' inside an event array: element
const S_ARR_AFTER = 9 // after an element: ',' or ']'
const S_CAPTURE = 10 // inside a value being cut out
const S_FOREIGN = 11 // the body does not start with '{'

// What a captured value is.
const T_KEY = 0
const T_TOP = 1
const T_ELEM = 2

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const COMMA = 0x2c
const COLON = 0x3a

/** How many bytes of the body are kept to describe it in an error. */
const HEAD_BYTES = 512

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

/** Bytes that can start a JSON number, true, false or null. */
function isScalarStart(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x74 || c === 0x66 || c === 0x6e
}

function typeName(v: JsonValue): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return 'an object'
  return `a ${typeof v}`
}

export class SiemBodyParser {
  private readonly wanted: ReadonlySet<EventType>
  private events: Record<EventType, JsonValue[]>
  private buffered = 0
  private queryEndTime: string | undefined
  private state = S_START
  private total = 0
  private sawContent = false

  // The key whose value is being read, and whether it names one of the event arrays.
  private key = ''
  private arrayType: EventType | undefined
  private arrayIndex = 0
  private keepArray = false

  // The value being cut out.
  private capTarget = T_TOP
  private capParts: Buffer[] = []
  private capStart = 0
  private capDepth = 0
  private capInString = false
  private capEscape = false
  private capScalar = false
  private capSkip = false

  private readonly head: Buffer[] = []
  private headBytes = 0

  constructor(wanted: Iterable<EventType> = EVENT_TYPES) {
    this.wanted = new Set(wanted)
    this.events = { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
  }

  /** Events parsed and not yet handed over by {@link drain}. */
  get pending(): number {
    return this.buffered
  }

  /**
   * Hands over the events parsed so far and forgets them, so a caller can process a body of any size in
   * batches while it arrives. (After a drain, a repeated top-level key no longer replaces what was handed over.)
   */
  drain(): Record<EventType, JsonValue[]> {
    const out = this.events
    this.events = { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
    this.buffered = 0
    return out
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.total
  }

  /** Feeds the next chunk; throws BodyFormatError as soon as the body cannot be what the API sends. */
  write(chunk: Buffer): void {
    const base = this.total
    this.total += chunk.length
    if (this.headBytes < HEAD_BYTES) {
      const part = chunk.subarray(0, HEAD_BYTES - this.headBytes)
      this.head.push(part)
      this.headBytes += part.length
    }
    if (this.state === S_FOREIGN) {
      this.checkForeign()
      return
    }
    let i = 0
    const n = chunk.length
    if (this.state === S_CAPTURE) this.capStart = 0
    while (i < n) {
      const c = chunk[i] as number
      switch (this.state) {
        case S_CAPTURE: {
          // The hot loop: most bytes of a body are inside event elements.
          if (this.capScalar) {
            if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || isWs(c)) {
              this.finishCapture(chunk, i) // the terminator is handled by the next state
              continue
            }
            i++
            continue
          }
          let depth = this.capDepth
          let inString = this.capInString
          let escape = this.capEscape
          let end = -1
          for (; i < n; i++) {
            const b = chunk[i] as number
            if (inString) {
              if (escape) escape = false
              else if (b === BACKSLASH) escape = true
              else if (b === QUOTE) {
                inString = false
                if (depth === 0) {
                  end = i + 1
                  break
                }
              }
            } else if (b === QUOTE) inString = true
            else if (b === OPEN_BRACE || b === OPEN_BRACKET) depth++
            else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
              depth--
              if (depth === 0) {
                end = i + 1
                break
              }
            }
          }
          this.capDepth = depth
          this.capInString = inString
          this.capEscape = escape
          if (end >= 0) {
            i = end
            this.finishCapture(chunk, end)
          }
          continue
        }
        case S_START:
          if (isWs(c) || (base + i < 3 && this.isBomByte(base + i, c))) break
          this.sawContent = true
          if (c !== OPEN_BRACE) {
            this.state = S_FOREIGN
            this.checkForeign()
            return
          }
          this.state = S_KEY_OR_END
          break
        case S_KEY_OR_END:
        case S_KEY:
          if (isWs(c)) break
          if (c === CLOSE_BRACE && this.state === S_KEY_OR_END) {
            this.state = S_DONE
            break
          }
          if (c !== QUOTE) this.fail(c, base + i, 'a field name')
          this.startCapture(chunk, i, T_KEY, false)
          continue
        case S_COLON:
          if (isWs(c)) break
          if (c !== COLON) this.fail(c, base + i, "':'")
          this.state = S_VALUE
          break
        case S_VALUE:
          if (isWs(c)) break
          if (this.arrayType !== undefined && c === OPEN_BRACKET) {
            this.keepArray = this.wanted.has(this.arrayType)
            this.events[this.arrayType] = [] // a repeated key replaces the earlier value, as JSON.parse does
            this.arrayIndex = 0
            this.state = S_ARR_FIRST
            break
          }
          this.startCapture(chunk, i, T_TOP, false)
          continue
        case S_AFTER_VALUE:
          if (isWs(c)) break
          if (c === COMMA) this.state = S_KEY
          else if (c === CLOSE_BRACE) this.state = S_DONE
          else this.fail(c, base + i, "',' or '}'")
          break
        case S_ARR_FIRST:
        case S_ARR_ELEM:
          if (isWs(c)) break
          if (c === CLOSE_BRACKET && this.state === S_ARR_FIRST) {
            this.endArray()
            break
          }
          this.startCapture(chunk, i, T_ELEM, !this.keepArray)
          continue
        case S_ARR_AFTER:
          if (isWs(c)) break
          if (c === COMMA) this.state = S_ARR_ELEM
          else if (c === CLOSE_BRACKET) this.endArray()
          else this.fail(c, base + i, `',' or ']' in ${this.key}`)
          break
        case S_DONE:
          if (!isWs(c)) throw new BodyFormatError(`unexpected data after the end of the JSON object at byte ${base + i}`)
          break
      }
      i++
    }
    if (this.state === S_CAPTURE && !this.capSkip && this.capStart < n) this.capParts.push(chunk.subarray(this.capStart))
  }

  /** The stream ended: returns the parsed body, or throws BodyFormatError when it was cut short. */
  end(): ParsedBody {
    if (this.state === S_FOREIGN) throw this.foreignError()
    if (this.state === S_START) {
      return { events: this.events, empty: true }
    }
    if (this.state !== S_DONE) {
      const where =
        this.state === S_CAPTURE && this.capTarget === T_ELEM
          ? `inside ${this.key}[${this.arrayIndex}]`
          : this.arrayType !== undefined && this.state >= S_ARR_FIRST
            ? `inside ${this.key}`
            : 'before the end of the JSON object'
      throw new BodyFormatError(`truncated JSON: the body ends ${where} after ${this.total} bytes`)
    }
    const out: ParsedBody = { events: this.events, empty: !this.sawContent }
    if (this.queryEndTime !== undefined) out.queryEndTime = this.queryEndTime
    return out
  }

  private isBomByte(pos: number, c: number): boolean {
    return (pos === 0 && c === 0xef) || (pos === 1 && c === 0xbb) || (pos === 2 && c === 0xbf)
  }

  private fail(c: number, pos: number, expected: string): never {
    const shown = c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`
    throw new BodyFormatError(`malformed JSON: expected ${expected} but found ${shown} at byte ${pos}`)
  }

  private startCapture(chunk: Buffer, i: number, target: number, skip: boolean): void {
    const c = chunk[i] as number
    this.capTarget = target
    this.capSkip = skip
    this.capParts = []
    this.capStart = i
    this.capEscape = false
    this.capInString = false
    this.capDepth = 0
    // The capture loop itself reads the opening byte of a string, object or array.
    this.capScalar = c !== QUOTE && c !== OPEN_BRACE && c !== OPEN_BRACKET
    if (this.capScalar && !isScalarStart(c)) {
      this.fail(c, this.total - chunk.length + i, target === T_KEY ? 'a field name' : 'a JSON value')
    }
    this.state = S_CAPTURE
  }

  private finishCapture(chunk: Buffer, end: number): void {
    const target = this.capTarget
    let value: JsonValue = null
    if (!this.capSkip) {
      const last = chunk.subarray(this.capStart, end)
      const bytes = this.capParts.length === 0 ? last : Buffer.concat([...this.capParts, last])
      const text = bytes.toString('utf8')
      try {
        value = JSON.parse(text) as JsonValue
      } catch (err) {
        const what = target === T_ELEM ? `${this.key}[${this.arrayIndex}]` : target === T_KEY ? 'a field name' : `the value of "${this.key}"`
        throw new BodyFormatError(`malformed JSON in ${what}: ${(err as Error).message}`)
      }
    }
    this.capParts = []
    if (target === T_KEY) {
      this.key = value as string
      this.arrayType = (EVENT_TYPES as readonly string[]).includes(this.key) ? (this.key as EventType) : undefined
      this.state = S_COLON
    } else if (target === T_ELEM) {
      if (this.keepArray) {
        this.events[this.arrayType as EventType].push(value)
        this.buffered++
      }
      this.arrayIndex++
      this.state = S_ARR_AFTER
    } else {
      if (this.arrayType !== undefined) {
        if (value !== null) throw new BodyFormatError(`"${this.key}" is ${typeName(value)}, not an array`)
        this.events[this.arrayType] = []
      } else if (this.key === 'queryEndTime' && typeof value === 'string') {
        this.queryEndTime = value
      }
      this.state = S_AFTER_VALUE
    }
  }

  private endArray(): void {
    this.arrayType = undefined
    this.state = S_AFTER_VALUE
  }

  /** The head (first HEAD_BYTES bytes) is all that is needed to describe a foreign body: stop once it is there. */
  private checkForeign(): void {
    if (this.headBytes >= HEAD_BYTES) throw this.foreignError()
  }

  /** The first bytes of the body (up to HEAD_BYTES), decoded, for error messages. */
  headText(): string {
    return Buffer.concat(this.head).toString('utf8')
  }

  private foreignError(): BodyFormatError {
    return new BodyFormatError(describeForeignBody(this.headText()))
  }
}

/** Says what a body that is not a JSON object looks like, so an operator can guess who sent it. */
export function describeForeignBody(head: string): string {
  const text = head.trimStart()
  if (/^<\d{1,3}>/.test(text) || /(^|[\s,])[A-Za-z_][\w.-]*=("|[^\s=])/.test(text.slice(0, 400))) {
    return 'it looks like syslog text; is format=json being stripped by a proxy?'
  }
  if (text.startsWith('<')) return 'it looks like HTML or XML (an error page from a proxy or a captive portal?)'
  if (text.startsWith('[')) return 'it is a JSON array, not an object'
  if (/^("|-?\d|true\b|false\b|null\b)/.test(text)) return 'it is a JSON value that is not an object'
  return 'it is not JSON'
}

/**
 * Streaming tokenizer for one top-level JSON object, e.g. a SIEM API body: `{"queryEndTime": "...", "messagesDelivered": [...]}`.
 * Why not one `JSON.parse`: an hour of a big tenant is hundreds of MB, and parsing it in one piece needs it as one string
 * (V8 caps strings at ~512 M characters; one non-Latin-1 character doubles the size) on top of the bytes and the objects.
 * This cuts each element of the streamed arrays out as the bytes arrive and `JSON.parse`s it alone: peak memory is the
 * parsed events plus one element, with no size limit. Structure outside the elements is checked byte by byte, every
 * value by `JSON.parse`, so it accepts what `JSON.parse` accepts for this shape of document.
 */
import { isUtf8 } from 'node:buffer'
import { BodyFormatError, BodyHead } from './body-format.js'
import type { JsonValue } from './types.js'

const S_START = 0 // before the top-level '{'
const S_KEY_OR_END = 1 // after '{'
const S_KEY = 2 // after ',' at top level
const S_COLON = 3
const S_VALUE = 4
const S_AFTER_VALUE = 5 // ',' or '}'
const S_DONE = 6
const S_ARR_FIRST = 7 // after '[' of a streamed array: element or ']'
const S_ARR_ELEM = 8 // after ',' inside a streamed array: element
const S_ARR_AFTER = 9 // after an element: ',' or ']'
const S_CAPTURE = 10 // inside a value being cut out
const S_FOREIGN = 11 // the body does not start with '{'

/** A value being cut out (a field name, a top-level value, or an element of a streamed array), across chunks. */
interface Capture { target: 'key' | 'top' | 'elem'; skip: boolean; scalar: boolean; parts: Buffer[]; start: number; depth: number; inString: boolean; escape: boolean }

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const COMMA = 0x2c
const COLON = 0x3a

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

/** Bytes that can start a JSON number, true, false or null. */
function isScalarStart(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x74 || c === 0x66 || c === 0x6e
}

/** The UTF-8 byte order mark, EF BB BF, at the body's start. */
function isBomByte(pos: number, c: number): boolean {
  return (pos === 0 && c === 0xef) || (pos === 1 && c === 0xbb) || (pos === 2 && c === 0xbf)
}

export abstract class JsonObjectTokenizer {
  /** The top-level field whose value is being read. */
  protected key = ''
  protected streamed = false
  /** The index of the current element in its streamed array. */
  protected index = 0
  private keep = false
  private state = S_START
  private total = 0
  private readonly head = new BodyHead()
  private cap: Capture = { target: 'top', skip: false, scalar: false, parts: [], start: 0, depth: 0, inString: false, escape: false }

  /** Whether the value of the top-level field `key`, when it is an array, is read element by element. */
  protected abstract streamsArray(key: string): boolean
  /** A streamed array of `key` starts: returns whether its elements are wanted (the others are skipped unparsed). */
  protected abstract startArray(): boolean
  /**
   * An element of a wanted streamed array, and its text: the element's bytes exactly as sent (white space inside it,
   * escapes, number spellings and key order kept; none around it), decoded as UTF-8 once, the very string that was
   * parsed. Invalid UTF-8 decodes to U+FFFD in both, so the text is always well-formed and says what the value says;
   * `validUtf8` says whether there was any.
   */
  protected abstract element(value: JsonValue, text: string, validUtf8: boolean): void
  /** A top-level value that is not streamed (also a streamed field's value that is not an array). */
  protected abstract member(value: JsonValue): void
  /**
   * Set by a subclass whose elements are parsed elsewhere (worker threads): each wanted element goes to
   * {@link rawElement} as its bytes, neither decoded nor parsed here, so only its brackets and strings were checked.
   */
  protected rawElements = false
  /** An element's bytes exactly as sent (a view of the chunk: copy what is kept). Only called when `rawElements`. */
  protected rawElement(bytes: Buffer): void {
    void bytes
  }

  get bytes(): number {
    return this.total
  }

  /** The first bytes of the body, decoded, for error messages. */
  headText(): string {
    return this.head.text()
  }

  /** Feeds the next chunk; throws BodyFormatError as soon as the body cannot be what the API sends. */
  write(chunk: Buffer): void {
    const base = this.total
    this.total += chunk.length
    this.head.add(chunk)
    if (this.state === S_FOREIGN) return this.checkForeign()
    let i = 0
    const n = chunk.length
    if (this.state === S_CAPTURE) this.cap.start = 0
    while (i < n) {
      const c = chunk[i] as number
      if (this.state === S_CAPTURE) {
        // The hot loop: most bytes of a body are inside event elements.
        const cap = this.cap
        if (cap.scalar) {
          if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || isWs(c)) this.finishCapture(chunk, i) // the terminator is handled by the next state
          else i++
          continue
        }
        let { depth, inString, escape } = cap
        for (; i < n; i++) {
          const b = chunk[i] as number
          if (inString) {
            if (escape) {
              escape = false
              continue
            }
            // Strings are most of an event's bytes: find the next quote natively, then count the backslashes before
            // it (an odd run escapes it). Past the chunk's end, an odd run of backslashes there escapes the next byte.
            const q = chunk.indexOf(QUOTE, i)
            const end = q < 0 ? n : q
            let k = end - 1
            while (k >= i && chunk[k] === BACKSLASH) k--
            const odd = (end - 1 - k) % 2 === 1
            if (q < 0) {
              escape = odd
              i = n
              break
            }
            i = q
            if (odd) continue
            inString = false
          } else if (b === QUOTE) inString = true
          else if (b === OPEN_BRACE || b === OPEN_BRACKET) depth++
          else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) depth--
          else continue
          if (depth === 0 && !inString) break
        }
        cap.depth = depth
        cap.inString = inString
        cap.escape = escape
        if (i < n) this.finishCapture(chunk, ++i)
        continue
      }
      if (isWs(c)) {
        i++
        continue
      }
      switch (this.state) {
        case S_START:
          if (base + i < 3 && isBomByte(base + i, c)) break
          if (c !== OPEN_BRACE) {
            this.state = S_FOREIGN
            return this.checkForeign()
          }
          this.state = S_KEY_OR_END
          break
        case S_KEY_OR_END:
        case S_KEY:
          if (c === CLOSE_BRACE && this.state === S_KEY_OR_END) {
            this.state = S_DONE
            break
          }
          if (c !== QUOTE) this.fail(c, base + i, 'a field name')
          this.startCapture(chunk, i, 'key', false)
          continue
        case S_COLON:
          if (c !== COLON) this.fail(c, base + i, "':'")
          this.state = S_VALUE
          break
        case S_VALUE:
          if (this.streamed && c === OPEN_BRACKET) {
            this.keep = this.startArray()
            this.index = 0
            this.state = S_ARR_FIRST
            break
          }
          this.startCapture(chunk, i, 'top', false)
          continue
        case S_AFTER_VALUE:
          if (c === COMMA) this.state = S_KEY
          else if (c === CLOSE_BRACE) this.state = S_DONE
          else this.fail(c, base + i, "',' or '}'")
          break
        case S_ARR_FIRST:
        case S_ARR_ELEM:
          if (c === CLOSE_BRACKET && this.state === S_ARR_FIRST) {
            this.endArray()
            break
          }
          this.startCapture(chunk, i, 'elem', !this.keep)
          continue
        case S_ARR_AFTER:
          if (c === COMMA) this.state = S_ARR_ELEM
          else if (c === CLOSE_BRACKET) this.endArray()
          else this.fail(c, base + i, `',' or ']' in ${this.key}`)
          break
        case S_DONE:
          throw new BodyFormatError(`unexpected data after the end of the JSON object at byte ${base + i}`)
      }
      i++
    }
    const cap = this.cap
    if (this.state === S_CAPTURE && !cap.skip && cap.start < n) cap.parts.push(chunk.subarray(cap.start))
  }

  /** The stream ended: throws BodyFormatError when the body was cut short; true when it was only white space. */
  protected finish(): boolean {
    if (this.state === S_FOREIGN) throw this.head.foreignError()
    if (this.state === S_START || this.state === S_DONE) return this.state === S_START
    const where =
      this.state === S_CAPTURE && this.cap.target === 'elem'
        ? `inside ${this.key}[${this.index}]`
        : this.streamed && this.state >= S_ARR_FIRST
          ? `inside ${this.key}`
          : 'before the end of the JSON object'
    throw new BodyFormatError(`truncated JSON: the body ends ${where} after ${this.total} bytes`)
  }

  private fail(c: number, pos: number, expected: string): never {
    const shown = c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`
    throw new BodyFormatError(`malformed JSON: expected ${expected} but found ${shown} at byte ${pos}`)
  }

  private startCapture(chunk: Buffer, i: number, target: Capture['target'], skip: boolean): void {
    const c = chunk[i] as number
    // The capture loop itself reads the opening byte of a string, object or array.
    const scalar = c !== QUOTE && c !== OPEN_BRACE && c !== OPEN_BRACKET
    if (scalar && !isScalarStart(c)) this.fail(c, this.total - chunk.length + i, 'a JSON value')
    this.cap = { target, skip, scalar, parts: [], start: i, depth: 0, inString: false, escape: false }
    this.state = S_CAPTURE
  }

  private finishCapture(chunk: Buffer, end: number): void {
    const { target, skip, parts } = this.cap
    let value: JsonValue = null
    let text = ''
    let bytes: Buffer | undefined
    if (!skip) {
      const last = chunk.subarray(this.cap.start, end)
      bytes = parts.length === 0 ? last : Buffer.concat([...parts, last])
      if (target === 'elem' && this.rawElements) {
        this.cap.parts = []
        this.rawElement(bytes)
        this.index++
        this.state = S_ARR_AFTER
        return
      }
      text = bytes.toString('utf8')
      try {
        value = JSON.parse(text) as JsonValue
      } catch (err) {
        const what = target === 'elem' ? `${this.key}[${this.index}]` : target === 'key' ? 'a field name' : `the value of "${this.key}"`
        throw new BodyFormatError(`malformed JSON in ${what}: ${(err as Error).message}`)
      }
    }
    this.cap.parts = []
    if (target === 'key') {
      this.key = value as string
      this.streamed = this.streamsArray(this.key)
      this.state = S_COLON
    } else if (target === 'elem') {
      // isUtf8 (simdutf) costs far less than the decoding before it.
      if (this.keep) this.element(value, text, bytes === undefined || isUtf8(bytes))
      this.index++
      this.state = S_ARR_AFTER
    } else {
      this.member(value)
      this.state = S_AFTER_VALUE
    }
  }

  private endArray(): void {
    this.streamed = false
    this.state = S_AFTER_VALUE
  }

  /** The head is all that is needed to describe a foreign body: stop once it is there. */
  private checkForeign(): void {
    if (this.head.full) throw this.head.foreignError()
  }
}

/**
 * The dedup key (`log.record.uid`, design §3): SHA-256 (hex) of `type + "\n" + canonicalJson(event)`.
 *
 * Canonical JSON: object keys sorted by UTF-16 code units (recursively), no whitespace, strings and numbers as
 * `JSON.stringify` writes them, and the event's top-level `messageParts` array sorted by its elements' canonical JSON,
 * because the API sends the parts in random order. Array order is significant everywhere else.
 *
 * So the same event re-reported (in the look-back overlap, or with keys or parts reordered) has one key, while the
 * per-recipient copies of a message (different `recipient` and `id`) and the same data under another event type
 * have different keys. A reclassified threat changes the event and so its key, which is wanted: it is news.
 */
import { hash } from 'node:crypto'
import type { EventType, JsonValue } from '../siem/types.js'
import { isSkipped, MAX_DEPTH, safeJson } from './safe-json.js'

/** The field whose array order carries no meaning. */
const UNORDERED_FIELD = 'messageParts'

/**
 * The key order of one object layout, computed once. Events of one type nearly always share a handful of layouts
 * (JSON.parse gives their keys in the order received), so sorting keys and quoting them is done once per layout,
 * not once per object; this makes the canonical text about as fast to produce as `JSON.stringify`'s.
 */
interface Layout {
  readonly keys: readonly string[]
  /** Indexes into `keys`, in code-unit order of the keys. */
  readonly order: readonly number[]
  /** `"key":` per position of `order`, with the separating comma for all but the first. */
  readonly prefixes: readonly string[]
}

/** Layouts by first key. Bounded: past the limit, layouts are computed and not kept. */
const layouts = new Map<string, Layout[]>()
let layoutCount = 0
const MAX_LAYOUTS = 1024
const MAX_LAYOUTS_PER_FIRST_KEY = 32
/**
 * Nor is a layout whose keys have more characters than this kept: keys come from the API (up to ~1 MiB each), and a
 * layout holds them and a copy of each. A real event's keys have ~300 characters together.
 */
const MAX_LAYOUT_CHARS = 2048

/** Layouts kept (tests). */
export function layoutsKept(): number {
  return layoutCount
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function computeLayout(keys: readonly string[]): Layout {
  const order = keys.map((_, i) => i).sort((a, b) => byCodeUnits(keys[a] as string, keys[b] as string))
  const prefixes = order.map((i, j) => (j === 0 ? '' : ',') + JSON.stringify(keys[i]) + ':')
  return { keys, order, prefixes }
}

function keyChars(keys: readonly string[]): number {
  let n = 0
  for (const k of keys) n += k.length
  return n
}

function layoutOf(keys: readonly string[]): Layout {
  const n = keys.length
  const first = keys[0] as string
  const candidates = layouts.get(first)
  if (candidates !== undefined) {
    next: for (const l of candidates) {
      const lk = l.keys
      if (lk.length !== n) continue
      // Keys from JSON.parse are internalized strings: these comparisons are mostly pointer checks.
      for (let i = 1; i < n; i++) if (lk[i] !== keys[i]) continue next
      return l
    }
  }
  const layout = computeLayout(keys)
  if (layoutCount < MAX_LAYOUTS && keyChars(keys) <= MAX_LAYOUT_CHARS) {
    if (candidates === undefined) {
      layouts.set(first, [layout])
      layoutCount++
    } else if (candidates.length < MAX_LAYOUTS_PER_FIRST_KEY) {
      candidates.push(layout)
      layoutCount++
    }
  }
  return layout
}

// Characters JSON.stringify escapes: '"', '\', controls, and (well-formed JSON.stringify) lone surrogates; any
// surrogate sends the string to JSON.stringify, which leaves valid pairs alone.
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

function quoteString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"'
}

/**
 * Canonical JSON of a JSON value. Values JSON cannot hold are written as `JSON.stringify` would inside an array
 * (`null`) and skipped as object members, so any acyclic input gives a string.
 */
export function canonicalJson(value: unknown, plain = false): string {
  return canon(value, true, 0, plain)
}

/**
 * `depth`: how many objects/arrays enclose `value`. Past MAX_DEPTH, the rest is written by safeJson (keys in the
 * order received, no recursion): events that deep are not real SIEM events, and their uid stays deterministic.
 * `plain`: no string in `value` needs an escape (see eventUid), so none is searched for one.
 */
function canon(value: unknown, top: boolean, depth: number, plain: boolean): string {
  if (depth > MAX_DEPTH && typeof value === 'object' && value !== null) return safeJson(value)
  switch (typeof value) {
    case 'string':
      return plain ? '"' + value + '"' : quoteString(value)
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null'
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object': {
      if (value === null) return 'null'
      if (Array.isArray(value)) return canonArray(value, depth, plain)
      const obj = value as Record<string, unknown>
      const keys = Object.keys(obj)
      if (keys.length === 0) return '{}'
      const { order, prefixes } = layoutOf(keys)
      let out = '{'
      for (let j = 0; j < order.length; j++) {
        const k = keys[order[j] as number] as string
        const v = obj[k]
        // Members JSON leaves out (never from JSON.parse); the first member written takes no comma.
        if (isSkipped(v)) continue
        const prefix = prefixes[j] as string
        out += (out.length === 1 && j > 0 ? prefix.slice(1) : prefix) + (top && k === UNORDERED_FIELD && Array.isArray(v) ? canonUnordered(v, depth, plain) : canon(v, false, depth + 1, plain))
      }
      return out + '}'
    }
    case 'bigint':
      return String(value)
    default:
      return 'null'
  }
}

function canonArray(arr: readonly unknown[], depth: number, plain: boolean): string {
  let out = '['
  for (let i = 0; i < arr.length; i++) {
    if (i > 0) out += ','
    out += canon(arr[i], false, depth + 1, plain)
  }
  return out + ']'
}

function canonUnordered(arr: readonly unknown[], depth: number, plain: boolean): string {
  const parts = arr.map((v) => canon(v, false, depth + 2, plain)).sort(byCodeUnits)
  return '[' + parts.join(',') + ']'
}

/**
 * `text`: the event's JSON text, when known (JSON that parses to `event`). When it has no backslash and no lone
 * surrogate, no string of the event holds a quote, a backslash, a control character or a lone surrogate (JSON writes
 * them only as escapes), so the canonical form quotes strings without searching them: ~3 µs an event. Clicks and
 * messages without quoted display names qualify.
 */
/** ES2024's String#isWellFormed, which Node 20 has (the project's lib is ES2023, for Node 20's sake). */
interface WellFormedCheck {
  isWellFormed(): boolean
}

export function eventUid(event: JsonValue, type: EventType, text?: string): string {
  const plain = text !== undefined && text.indexOf('\\') < 0 && (text as unknown as WellFormedCheck).isWellFormed()
  // crypto.hash (Node 20.12 and later): one call instead of a Hash object and three, ~2 µs an event less.
  return hash('sha256', type + '\n' + canonicalJson(event, plain), 'hex')
}

/**
 * JSON values → OpenTelemetry attribute values, by JSON type (the schema only checks, see map-event.ts). Arrays of
 * scalars are kept homogeneous, since backends dislike mixed-type arrays: with a null or a second type among them,
 * every element becomes a string. Objects and arrays of objects follow the attribute shape:
 * - `flat`: `<key>.<k>` per non-null member; an array of objects gives one index-aligned array per key (the union of
 *   the elements' keys), `""` where an element lacks the key; values below that level are written as JSON text.
 * - `nested`: maps without their null members; past MAX_DEPTH levels, JSON text (written without recursion by
 *   safe-json.ts, so no input depth overflows the stack).
 * Keys are data: `__proto__` becomes an own member, never a prototype. String values are cut to the attribute value
 * length limit afterwards (string-limit.ts).
 */
import type { AnyValue, AnyValueMap } from '@opentelemetry/api-logs'
import type { JsonObject, JsonValue } from '../siem/types.js'
import type { AttributeList } from './attribute-list.js'
import { MAX_DEPTH, safeJson } from './safe-json.js'
import type { FieldSpec, ScalarKind } from './schema.js'
import type { AttributeShape } from './types.js'

type Scalar = string | number | boolean

const enum ArrayKind {
  /** Scalars of one type and no nulls, or no elements: usable as is. */
  AsIs,
  /** Scalars and nulls, or scalars of several types: every element a string. */
  Strings,
  /** Objects and nulls, at least one object. */
  Objects,
  /** Anything else: arrays inside, or objects mixed with scalars. */
  Complex,
}

export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function classify(arr: readonly JsonValue[]): ArrayKind {
  let firstType: string | undefined
  let mixed = false
  let nulls = false
  let objects = false
  let scalars = false
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i]
    if (v === null || v === undefined) {
      nulls = true
      continue
    }
    const t = typeof v
    if (t === 'object') {
      if (Array.isArray(v)) return ArrayKind.Complex
      objects = true
    } else {
      scalars = true
      if (firstType === undefined) firstType = t
      else if (t !== firstType) mixed = true
    }
    if (objects && scalars) return ArrayKind.Complex
  }
  if (objects) return ArrayKind.Objects
  return nulls || mixed ? ArrayKind.Strings : ArrayKind.AsIs
}

/** A value below the first level, in flat shape: scalars as is, null as `""`, objects and arrays as JSON. */
function deepToFlatScalar(v: JsonValue | undefined): Scalar {
  if (v === null || v === undefined) return ''
  return typeof v === 'object' ? safeJson(v) : v
}

/** Every element as a string: null as `""`, objects and arrays as JSON. */
function toStrings(arr: readonly JsonValue[]): string[] {
  const out = new Array<string>(arr.length)
  for (let i = 0; i < arr.length; i++) out[i] = String(deepToFlatScalar(arr[i]))
  return out
}

/**
 * A member name that can make `key.<member>` equal another attribute key: one with a dot, or a backslash or a lone
 * surrogate (wellFormedKey writes a lone surrogate as the text `\uXXXX`).
 */
const RISKY_MEMBER = /[.\\\ud800-\udfff]/

/**
 * The most distinct member names an array of objects is flattened into. Each one is a column as long as the array:
 * an array whose every element has a name of its own would cost n × n (10,000 such elements: 8 s and 900 MB, then
 * out of memory, on every retry). Real arrays (messageParts, threatsInfoMap) have about ten; the attribute count
 * limit (128 by default) would drop the rest anyway.
 */
export const MAX_FLAT_COLUMNS = 128

/**
 * Flat shape of an array of objects (and nulls): one index-aligned array per key under `key.<k>`; elements that are
 * not objects leave `""` in every column. Past MAX_FLAT_COLUMNS names, the array as one JSON text under `key` (the
 * body keeps it whole anyway), or, with `keepColumns` (a schema field, whose `key` must stay a parent), the first
 * MAX_FLAT_COLUMNS columns only; returns whether names were left out so.
 */
function flattenObjectArray(attrs: AttributeList, key: string, arr: readonly JsonValue[], keepColumns = false): boolean {
  let leftOut = false
  const n = arr.length
  // Columns as parallel arrays: elements usually share one key order, so the column of the j-th key of an element
  // is usually column j (a pointer comparison of the interned key strings), else a short linear search.
  const colKeys: string[] = []
  const colValues: Scalar[][] = []
  /** typeof of the column's first value, or 'mixed'. */
  const colTypes: string[] = []
  const colSet: number[] = []
  for (let i = 0; i < n; i++) {
    const el = arr[i]
    if (!isJsonObject(el)) continue
    let j = 0
    for (const k in el) {
      const raw = el[k]
      if (raw === null || raw === undefined) {
        j++
        continue
      }
      const v = deepToFlatScalar(raw)
      const t = typeof v
      let c = j < colKeys.length && colKeys[j] === k ? j : colKeys.indexOf(k)
      if (c < 0) {
        if (colKeys.length === MAX_FLAT_COLUMNS) {
          if (keepColumns) {
            leftOut = true
            j++
            continue
          }
          attrs.set(key, safeJson(arr))
          return false
        }
        c = colKeys.length
        if (RISKY_MEMBER.test(k)) attrs.mayRepeat = true
        colKeys.push(k)
        colValues.push(new Array<Scalar>(n).fill(''))
        colTypes.push(t)
        colSet.push(0)
      } else if (colTypes[c] !== t) {
        colTypes[c] = 'mixed'
      }
      ;(colValues[c] as Scalar[])[i] = v
      colSet[c] = (colSet[c] as number) + 1
      j++
    }
  }
  for (let c = 0; c < colKeys.length; c++) {
    const values = colValues[c] as Scalar[]
    const t = colTypes[c]
    // Placeholders ("") among numbers or booleans, or mixed types: make the whole column strings.
    if (t !== 'string' && (t === 'mixed' || (colSet[c] as number) < n)) {
      for (let i = 0; i < n; i++) values[i] = String(values[i])
    }
    attrs.set(joinKey(key, colKeys[c] as string), values)
  }
  return leftOut
}

/**
 * Flat shape of one object: `key.<k>` per non-null member; an array of scalars stays an array (searchable without a
 * parser, as a top-level one is: `suborgs.rcpts`), deeper values are JSON.
 */
function flattenObject(attrs: AttributeList, key: string, obj: JsonObject): void {
  for (const k in obj) {
    const v = obj[k]
    if (v === null || v === undefined) continue
    if (RISKY_MEMBER.test(k)) attrs.mayRepeat = true
    attrs.set(joinKey(key, k), typeof v !== 'object' ? v : Array.isArray(v) ? flatMemberArray(v) : safeJson(v))
  }
}

function flatMemberArray(arr: JsonValue[]): AnyValue {
  switch (classify(arr)) {
    case ArrayKind.AsIs:
      return arr
    case ArrayKind.Strings:
      return toStrings(arr)
    default:
      return safeJson(arr)
  }
}

/** Nested shape of a value; `depth`: its level (a field's value is level 1). Past MAX_DEPTH levels, JSON text. */
function toNested(v: JsonValue, depth: number): AnyValue {
  if (typeof v !== 'object' || v === null) return v
  if (depth > MAX_DEPTH) return safeJson(v)
  return Array.isArray(v) ? nestedArray(v, depth) : nestedMap(v, depth)
}

function nestedMap(obj: JsonObject, depth: number): AnyValue {
  // The SDK drops (silently) any attribute holding a map whose `constructor` member is not Object: such a map is
  // kept as its JSON text instead.
  if (Object.prototype.hasOwnProperty.call(obj, 'constructor')) return safeJson(obj)
  const out: AnyValueMap = {}
  for (const k in obj) {
    const v = obj[k]
    if (v === null || v === undefined) continue
    const nv = typeof v === 'object' ? toNested(v, depth + 1) : v
    // JSON.parse makes "__proto__" an own key; plain assignment would set the map's prototype instead.
    const key = wellFormedKey(k)
    if (key === '__proto__') Object.defineProperty(out, key, { value: nv, enumerable: true, writable: true, configurable: true })
    else out[key] = nv
  }
  return out
}

function nestedArray(arr: JsonValue[], depth: number): AnyValue[] {
  switch (classify(arr)) {
    case ArrayKind.AsIs:
      return arr
    case ArrayKind.Strings:
      return toStrings(arr)
    case ArrayKind.Objects:
      return arr.map((el) => (isJsonObject(el) ? toNested(el, depth + 1) : {}))
    case ArrayKind.Complex:
      return arr.map((el) => (el === null || el === undefined ? '' : toNested(el, depth + 1)))
  }
}

/**
 * Writes the attribute(s) of one non-null field value under `key` (already prefixed).
 * Scalar arrays that need no fixing are shared with the event, not copied.
 */
export function putAttribute(attrs: AttributeList, key: string, v: JsonValue, shape: AttributeShape): void {
  if (typeof v !== 'object' || v === null) {
    if (v !== null) attrs.set(key, v)
  } else if (shape === 'nested') {
    attrs.set(key, toNested(v, 1))
  } else if (!Array.isArray(v)) {
    flattenObject(attrs, key, v)
  } else {
    const kind = classify(v)
    if (kind === ArrayKind.Objects) flattenObjectArray(attrs, key, v)
    else attrs.set(key, kind === ArrayKind.AsIs ? v : toStrings(v))
  }
}

/**
 * Writes the attribute(s) of a field the schema knows, in the shape the schema gives it whatever the value's JSON
 * type, so that no event turns a key into another's parent: backends that expand dotted names (Elasticsearch,
 * OpenSearch) refuse a record whose `proofpoint.subject` is an object where earlier ones had a string (a mapping
 * conflict: the record is lost there). A value that contradicts the schema's shape (the event is counted malformed
 * by the caller's check) goes out as:
 * - scalar field (`subject`, `spamScore`, ...) holding an object or array: its JSON text under the field's key;
 * - string array holding objects or arrays: every element a string, those as JSON text; a lone object: its JSON text;
 * - array of objects (`messageParts`, `threatsInfoMap`) holding one object: as an array of that one; holding a
 *   scalar: no attribute (the body has it); elements that are not objects: empty in every column (flat) or `{}`
 *   (nested); a known member holding an object or array: its JSON text. Past MAX_FLAT_COLUMNS member names (flat), the
 *   first ones only.
 * Scalars of another scalar type are kept as they are (a `"92"` spamScore stays a string). Returns a problem to
 * count beside the schema check's, or undefined.
 */
export function putFieldAttribute(attrs: AttributeList, key: string, spec: FieldSpec, v: JsonValue, shape: AttributeShape): string | undefined {
  if (v === null) return undefined
  switch (spec.kind) {
    case 'stringArray':
      if (Array.isArray(v)) attrs.set(key, classify(v) === ArrayKind.AsIs ? v : toStrings(v))
      else attrs.set(key, typeof v === 'object' ? safeJson(v) : v)
      return undefined
    case 'objectArray': {
      if (typeof v !== 'object') return undefined
      const arr = Array.isArray(v) ? v : [v]
      if (shape === 'nested') {
        attrs.set(key, arr.map((el) => (isJsonObject(el) ? knownMembersAsText(toNested(el, 2), el, spec.keys) : {})))
        return undefined
      }
      if (!flattenObjectArray(attrs, key, arr, true)) return undefined
      return `more than ${MAX_FLAT_COLUMNS} distinct member names, the first ${MAX_FLAT_COLUMNS} are attributes (the body has all)`
    }
    default:
      attrs.set(key, typeof v === 'object' ? safeJson(v) : v)
      return undefined
  }
}

/**
 * A nested element of an array of objects with its known members (scalars by the schema) as JSON text where they are
 * not; an element kept whole as JSON text (see nestedMap) as it is.
 */
function knownMembersAsText(nested: AnyValue, el: JsonObject, keys: Readonly<Record<string, ScalarKind>>): AnyValue {
  if (typeof nested !== 'object' || nested === null || Array.isArray(nested) || nested instanceof Uint8Array) return nested
  for (const k in keys) {
    const raw = el[k]
    if (typeof raw === 'object' && raw !== null && Object.prototype.hasOwnProperty.call(nested, k)) nested[k] = safeJson(raw)
  }
  return nested
}

/**
 * Joined keys by prefix + separator and member: a key built afresh for every event costs its hashing on every store.
 * The separator is part of the lookup: a vendor field named "" has the key `proofpoint.`, whose members are joined
 * with "." to `proofpoint..x`, while a field `x` is `proofpoint.` + "" + `x`.
 */
const joinedKeys = new Map<string, Map<string, string>>()
let joinedCount = 0
/** Keys come from the data: past this many, keys are joined and not kept. */
const JOINED_MAX = 4096
/**
 * Nor is a key longer than this kept: field names come from the API, up to ~1 MiB each, and 4096 long ones kept for
 * the process's life filled the heap. Real keys are a few dozen characters.
 */
const JOINED_KEY_MAX = 256

/** Keys kept by joinKey (tests). */
export function joinedKeysKept(): number {
  return joinedCount
}

/** `prefix` + `separator` + the well-formed `member` (attribute keys of vendor fields and flattened members). */
export function joinKey(prefix: string, member: string, separator = '.'): string {
  const kept = prefix.length + member.length <= JOINED_KEY_MAX
  const joined = separator === '.' ? prefix : `${prefix}\u0000${separator}`
  let members = kept ? joinedKeys.get(joined) : undefined
  const known = members?.get(member)
  if (known !== undefined) return known
  const key = prefix + separator + wellFormedKey(member)
  if (kept && joinedCount < JOINED_MAX) {
    if (members === undefined) joinedKeys.set(joined, (members = new Map<string, string>()))
    members.set(member, key)
    joinedCount++
  }
  return key
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/**
 * A key the wire keeps distinct. OTLP keys are UTF-8, so a lone surrogate would become U+FFFD and two different
 * keys ("\ud800", "\udbff") would collide into one; they are written as the text `\uXXXX` instead. Values keep the
 * encoder's U+FFFD: they do not identify anything, and the body holds the original.
 */
export function wellFormedKey(k: string): string {
  return k.replace(LONE_SURROGATE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

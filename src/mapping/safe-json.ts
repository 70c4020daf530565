/**
 * JSON text of any JSON value, however deep, and the depth limit of the mapping.
 *
 * `JSON.parse` builds arbitrarily deep values without recursion, but `JSON.stringify` (and any recursive walk) runs
 * out of stack at a few thousand levels. Events come from a third party, so the mapper never recurses past
 * `MAX_DEPTH` levels: below that, a value is kept as its JSON text, written here without recursion.
 */

/** Levels of objects/arrays kept as structure (attributes in nested shape, map bodies, canonical JSON for the uid). */
export const MAX_DEPTH = 32

type Frame =
  | { readonly arr: readonly unknown[]; i: number }
  | { readonly obj: Readonly<Record<string, unknown>>; readonly keys: readonly string[]; i: number; n: number }

export function isSkipped(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol'
}

/**
 * `JSON.stringify(value)` for JSON values (well-formed: lone surrogates escaped), without a depth limit. Shallow
 * values take `JSON.stringify` itself; when it runs out of stack, an iterative writer gives the same text. Throws, as
 * `JSON.stringify` does, on cycles and BigInt (never from JSON.parse). Top-level `undefined` gives `"null"`.
 */
export function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null'
  } catch (err) {
    if (!(err instanceof RangeError)) throw err
    return iterativeJson(value)
  }
}

function scalarJson(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v)
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null'
    case 'boolean':
      return v ? 'true' : 'false'
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt')
    case 'object':
      return v === null ? 'null' : undefined
    default:
      return 'null'
  }
}

function iterativeJson(root: unknown): string {
  const out: string[] = []
  const stack: Frame[] = []
  const open = new Set<object>()
  const write = (v: unknown): void => {
    const s = scalarJson(v)
    if (s !== undefined) {
      out.push(s)
      return
    }
    const o = v as object
    if (open.has(o)) throw new TypeError('Converting circular structure to JSON')
    open.add(o)
    if (Array.isArray(o)) {
      out.push('[')
      stack.push({ arr: o, i: 0 })
    } else {
      out.push('{')
      stack.push({ obj: o as Record<string, unknown>, keys: Object.keys(o), i: 0, n: 0 })
    }
  }
  write(root)
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as Frame
    if ('arr' in top) {
      if (top.i < top.arr.length) {
        if (top.i > 0) out.push(',')
        const v = top.arr[top.i++]
        write(isSkipped(v) ? null : v)
        continue
      }
      out.push(']')
      open.delete(top.arr)
    } else {
      let wrote = false
      while (top.i < top.keys.length) {
        const k = top.keys[top.i++] as string
        const v = top.obj[k]
        if (isSkipped(v)) continue
        out.push((top.n++ > 0 ? ',' : '') + JSON.stringify(k) + ':')
        write(v)
        wrote = true
        break
      }
      if (wrote) continue
      out.push('}')
      open.delete(top.obj)
    }
    stack.pop()
  }
  return out.join('')
}

/** Whether a value has objects/arrays nested more than `limit` levels deep (a scalar is 0 levels). Bounded recursion. */
export function deeperThan(v: unknown, limit: number): boolean {
  if (typeof v !== 'object' || v === null) return false
  if (limit <= 0) return true
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (deeperThan(v[i], limit - 1)) return true
    return false
  }
  const o = v as Record<string, unknown>
  for (const k in o) if (deeperThan(o[k], limit - 1)) return true
  return false
}

/**
 * A copy of `v` in which every object/array at level `limit + 1` is replaced by its JSON text; `v` itself when it
 * is not that deep. `__proto__` keys stay own data members.
 */
export function limitDepth(v: unknown, limit: number): unknown {
  return deeperThan(v, limit) ? cut(v, limit) : v
}

function cut(v: unknown, limit: number): unknown {
  if (typeof v !== 'object' || v === null) return v
  if (limit <= 0) return safeJson(v)
  if (Array.isArray(v)) return v.map((el) => cut(el, limit - 1))
  const o = v as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const k in o) {
    const nv = cut(o[k], limit - 1)
    if (k === '__proto__') Object.defineProperty(out, k, { value: nv, enumerable: true, writable: true, configurable: true })
    else out[k] = nv
  }
  return out
}

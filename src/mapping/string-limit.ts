/**
 * Cuts attribute string values to the attribute value length limit. The SDK applies the same limit
 * (`logRecordLimits.attributeValueLengthLimit`) silently; cutting here first makes truncation countable.
 */
import type { AnyValue, AnyValueMap } from '@opentelemetry/api-logs'
import type { AttributeList } from './attribute-list.js'

/**
 * Cuts every string in the attribute values (array elements and map members too) to `limit` UTF-16 code units,
 * never between the halves of a surrogate pair, and returns how many strings were cut. Arrays shared with the event
 * are copied before they are changed; maps are the mapper's own.
 */
export function limitStringLengths(attrs: AnyValueMap, limit: number): number {
  if (!(limit > 0) || !Number.isFinite(limit)) return 0
  const counter = { n: 0 }
  for (const k of Object.keys(attrs)) {
    const v = attrs[k]
    const nv = cutValue(v, limit, counter)
    if (nv !== v) attrs[k] = nv
  }
  return counter.n
}

/** The same for attributes as a list (each key once: AttributeList.mayRepeat is false). */
export function limitListStringLengths(attrs: AttributeList, limit: number): number {
  if (!(limit > 0) || !Number.isFinite(limit)) return 0
  const counter = { n: 0 }
  const { values } = attrs
  for (let i = 0; i < values.length; i++) values[i] = cutValue(values[i], limit, counter)
  return counter.n
}

function cutValue(v: AnyValue, limit: number, counter: { n: number }): AnyValue {
  if (typeof v === 'string') {
    if (v.length <= limit) return v
    counter.n++
    const high = v.charCodeAt(limit - 1)
    return v.slice(0, high >= 0xd800 && high <= 0xdbff ? limit - 1 : limit)
  }
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array) return v
  if (Array.isArray(v)) {
    let copy: AnyValue[] | undefined
    for (let i = 0; i < v.length; i++) {
      const el = v[i]
      const nel = cutValue(el, limit, counter)
      if (nel !== el) {
        copy ??= v.slice()
        copy[i] = nel
      }
    }
    return copy ?? v
  }
  for (const k of Object.keys(v)) {
    const el = v[k]
    const nel = cutValue(el, limit, counter)
    if (nel !== el) Object.defineProperty(v, k, { value: nel, enumerable: true, writable: true, configurable: true })
  }
  return v
}

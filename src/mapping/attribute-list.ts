/**
 * Attributes in the order the mapper sets them, as two arrays. Why not an object: a record has ~50 attributes under
 * computed keys, and V8 turns such an object into a hash table (dictionary mode) that costs ~10 µs an event to build
 * and walk, about 8 % of mapping and encoding an event. The protobuf encoder reads the arrays; everything else takes
 * {@link AttributeList.toMap}, the object the same assignments would have built.
 */
import type { AnyValue, AnyValueMap } from '@opentelemetry/api-logs'

export class AttributeList {
  readonly keys: string[] = []
  readonly values: AnyValue[] = []
  /**
   * Set when a key may have been set twice: fields the schema does not know, whose prefixed and flattened names can
   * meet others (`a.b` beside `a` with a member `b`). Such a record takes object semantics (toMap): a key set again
   * keeps its first place and takes the last value.
   */
  mayRepeat = false

  set(key: string, value: AnyValue): void {
    this.keys.push(key)
    this.values.push(value)
  }

  /** Two attributes before all the others. */
  prepend(key1: string, value1: AnyValue, key2: string, value2: AnyValue): void {
    this.keys.unshift(key1, key2)
    this.values.unshift(value1, value2)
  }

  /** The object that assigning every key in turn builds. */
  toMap(): AnyValueMap {
    const map: AnyValueMap = {}
    const { keys, values } = this
    for (let i = 0; i < keys.length; i++) map[keys[i] as string] = values[i]
    return map
  }
}

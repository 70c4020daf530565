import { createHash } from 'node:crypto'

/** Maps made so far: each one's hash seed. */
let maps = 0

/**
 * A map from `log.record.uid` to a number, holding each uid as 16 bytes in typed arrays (open addressing, linear
 * probing) instead of a 64-character string. Why: the poller remembers every uid of a window and every uid still
 * re-reportable; at 300k events per window, strings in Sets, Maps and a dictionary object were ~150 MB of live heap
 * and a 25 MB state file; here a slot costs 18 bytes (a key ~26 at the 0.7 load) and 21 bytes of state file (base64).
 * A key is the first 128 bits of the uid's SHA-256 (uids are hex SHA-256; any other string is hashed first): two
 * different events collide with probability ~n²/2¹²⁹, about 10⁻²⁸ for a million keys.
 * Values are few and repeated (an event type, or a window end): a slot holds 1 + the index of its value in a table,
 * 0 for an empty slot, in 2 bytes while the table has at most 65,535 values and in 4 after. Against a Float64 value
 * and a used flag per slot, that is 7 bytes a slot less: ~10 MB at 300k events.
 */
export class UidKeyMap {
  private keys: Uint32Array
  /** Per slot: 0 empty, else 1 + index into `values`. */
  private refs: Uint16Array | Uint32Array
  private readonly values: number[] = []
  private readonly refOf = new Map<number, number>()
  private mask: number
  /** 32 − log2(capacity): a key's home slot is the top bits of its hash. */
  private shift: number
  /** This map's own hash: see {@link home}. */
  private readonly seed = Math.imul(++maps, 0x85ebca6b) >>> 0
  private count = 0
  /** Scratch for the key being looked up. */
  private readonly k = new Uint32Array(4)

  constructor(expected = 0) {
    let capacity = 1024
    while (capacity * 0.7 < expected) capacity *= 2
    this.keys = new Uint32Array(capacity * 4)
    this.refs = new Uint16Array(capacity)
    this.mask = capacity - 1
    this.shift = 32 - Math.log2(capacity)
  }

  get size(): number {
    return this.count
  }

  has(uid: string): boolean {
    keyOf(uid, this.k)
    return this.slotOf(this.k) >= 0
  }

  get(uid: string): number | undefined {
    keyOf(uid, this.k)
    return this.getKey(this.k)
  }

  set(uid: string, value: number): void {
    keyOf(uid, this.k)
    this.setKey(this.k, value)
  }

  /** By 16-byte key (as {@link forEach} gives them). */
  getKey(key: Uint32Array): number | undefined {
    const slot = this.slotOf(key)
    return slot >= 0 ? this.values[this.refs[slot]! - 1] : undefined
  }

  /** Calls fn with each entry's value and 16-byte key (valid only during the call: the next entry's overwrites it). */
  forEach(fn: (value: number, key: Uint32Array) => void): void {
    const { refs, values, keys } = this
    // One scratch key, not a view per entry (a subarray is an allocation: ~1 µs an entry at 100k).
    const key = new Uint32Array(4)
    for (let slot = 0; slot < refs.length; slot++) {
      const ref = refs[slot]!
      if (ref === 0) continue
      const at = slot * 4
      key[0] = keys[at]!
      key[1] = keys[at + 1]!
      key[2] = keys[at + 2]!
      key[3] = keys[at + 3]!
      fn(values[ref - 1]!, key)
    }
  }

  /** The longest run of occupied slots (what a lookup may have to walk): a few dozen at most in a healthy map. */
  longestRun(): number {
    let longest = 0
    let run = 0
    // Twice round: a run may wrap from the last slot to the first.
    for (let i = 0; i < 2 * this.refs.length; i++) {
      run = this.refs[i & this.mask] === 0 ? 0 : run + 1
      longest = Math.max(longest, Math.min(run, this.refs.length))
    }
    return longest
  }

  /**
   * The entries whose value `keep`s, in a new map sized for them plus `room` more keys: a map about to take a
   * window's keys does not grow (and copy itself) on the way, nor hold its old and new arrays at once.
   */
  filter(keep: (value: number) => boolean, room = 0): UidKeyMap {
    const { refs, values, keys } = this
    // Each value is asked once, not each key.
    const kept = values.map((value) => keep(value))
    let n = 0
    for (const ref of refs) if (ref !== 0 && kept[ref - 1]) n++
    const out = new UidKeyMap(n + room)
    const key = new Uint32Array(4)
    for (let slot = 0; slot < refs.length; slot++) {
      const ref = refs[slot]!
      if (ref === 0 || !kept[ref - 1]) continue
      for (let i = 0; i < 4; i++) key[i] = keys[slot * 4 + i]!
      out.setKey(key, values[ref - 1]!)
    }
    return out
  }

  /** The entries grouped by value, for the state file: value (decimal) → base64 of its keys, 16 bytes each. */
  toBuckets(): Record<string, string> {
    const counts = new Map<number, number>()
    this.forEach((value) => counts.set(value, (counts.get(value) ?? 0) + 1))
    const buffers = new Map<number, { buf: Buffer; at: number }>()
    for (const [value, n] of counts) buffers.set(value, { buf: Buffer.allocUnsafe(n * 16), at: 0 })
    this.forEach((value, key) => {
      const b = buffers.get(value)!
      for (let i = 0; i < 4; i++) b.buf.writeUInt32LE(key[i]!, b.at + i * 4)
      b.at += 16
    })
    const out: Record<string, string> = {}
    for (const [value, { buf }] of [...buffers].sort((a, b) => a[0] - b[0])) out[String(value)] = buf.toString('base64')
    return out
  }

  /** The inverse of {@link toBuckets}. Throws TypeError on a bucket that is not base64 of whole 16-byte keys. */
  static fromBuckets(buckets: Readonly<Record<string, string>>): UidKeyMap {
    const problem = bucketsProblem(buckets)
    if (problem) throw new TypeError(problem)
    let total = 0
    for (const b64 of Object.values(buckets)) total += (b64.length * 3) / 4 / 16
    const map = new UidKeyMap(total)
    const k = new Uint32Array(4)
    for (const [valueText, b64] of Object.entries(buckets)) {
      const value = Number(valueText)
      const buf = Buffer.from(b64, 'base64')
      for (let at = 0; at < buf.length; at += 16) {
        for (let i = 0; i < 4; i++) k[i] = buf.readUInt32LE(at + i * 4)
        map.setKey(k, value)
      }
    }
    return map
  }

  private slotOf(k: Uint32Array): number {
    const { keys, refs } = this
    for (let slot = this.home(k[0]!); ; slot = (slot + 1) & this.mask) {
      if (refs[slot] === 0) return -1
      const at = slot * 4
      if (keys[at] === k[0] && keys[at + 1] === k[1] && keys[at + 2] === k[2] && keys[at + 3] === k[3]) return slot
    }
  }

  setKey(k: Uint32Array, value: number): void {
    const ref = this.refFor(value)
    const found = this.slotOf(k)
    if (found >= 0) {
      this.refs[found] = ref
      return
    }
    if (this.count + 1 > this.refs.length * 0.7) this.grow()
    let slot = this.home(k[0]!)
    while (this.refs[slot] !== 0) slot = (slot + 1) & this.mask
    this.refs[slot] = ref
    this.keys.set(k, slot * 4)
    this.count++
  }

  /**
   * The home slot of a key whose first word is `word`: multiplicative (Fibonacci) hashing of the word mixed with this
   * map's seed, top bits. Why a seed per map: entries come out of one map in slot order (forEach, toBuckets) and go
   * into another (filter, the commit's merges, loading the state file). With one hash for all maps, such a copy
   * inserts keys in the order of their home slots, and linear probing piles them into runs that grow with the
   * map: filtering 300k keys took 10 s (quadratic) when the home slot was the word's low bits in every map.
   * Growing keeps the seed: a slot's keys go to slots 2i and 2i + 1, in order, with no pile-up.
   */
  private home(word: number): number {
    return Math.imul(word ^ this.seed, 0x9e3779b1) >>> this.shift
  }

  /** 1 + the index of `value` in the table, added if new; widens the slots to 4 bytes at the 65,535th value. */
  private refFor(value: number): number {
    const known = this.refOf.get(value)
    if (known !== undefined) return known
    this.values.push(value)
    const ref = this.values.length
    this.refOf.set(value, ref)
    if (ref > 0xffff && this.refs instanceof Uint16Array) this.refs = Uint32Array.from(this.refs)
    return ref
  }

  private grow(): void {
    const { keys, refs } = this
    const capacity = refs.length * 2
    this.keys = new Uint32Array(capacity * 4)
    this.refs = refs instanceof Uint16Array ? new Uint16Array(capacity) : new Uint32Array(capacity)
    this.mask = capacity - 1
    this.shift--
    for (let slot = 0; slot < refs.length; slot++) {
      const ref = refs[slot]!
      if (ref === 0) continue
      let to = this.home(keys[slot * 4]!)
      while (this.refs[to] !== 0) to = (to + 1) & this.mask
      this.refs[to] = ref
      for (let i = 0; i < 4; i++) this.keys[to * 4 + i] = keys[slot * 4 + i]!
    }
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Why `buckets` is not a valid {@link UidKeyMap.toBuckets} result, or undefined. */
export function bucketsProblem(buckets: unknown): string | undefined {
  if (typeof buckets !== 'object' || buckets === null || Array.isArray(buckets)) return 'not an object'
  for (const [value, b64] of Object.entries(buckets)) {
    if (!Number.isFinite(Number(value)) || value.trim() === '') return `bucket ${JSON.stringify(value.slice(0, 40))} is not a number`
    if (typeof b64 !== 'string' || !BASE64.test(b64) || b64.length % 4 !== 0 || ((b64.length / 4) * 3 - padding(b64)) % 16 !== 0) {
      return `bucket ${value} is not base64 of 16-byte keys`
    }
  }
  return undefined
}

function padding(b64: string): number {
  return b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0
}

/** A character code's value as a lowercase hex digit, or 16 (not one): a table, not two range tests per digit. */
const HEX = new Uint8Array(128).fill(16)
for (let c = 0; c < 16; c++) HEX['0123456789abcdef'.charCodeAt(c)] = c

/** The 16-byte key of a uid, into `out`: its first 32 hex digits, or the SHA-256 of anything that is not lowercase hex. */
function keyOf(uid: string, out: Uint32Array): void {
  if (uid.length === 64) {
    let bad = 0
    for (let word = 0; word < 4; word++) {
      let v = 0
      for (let i = word * 8; i < word * 8 + 8; i++) {
        // A code past 127 is outside the table: not hex either.
        const n = HEX[uid.charCodeAt(i)] ?? 16
        bad |= n
        v = (v << 4) | (n & 15)
      }
      out[word] = v >>> 0
    }
    if ((bad & 16) === 0) return
  }
  const digest = createHash('sha256').update(uid).digest()
  for (let i = 0; i < 4; i++) out[i] = digest.readUInt32BE(i * 4)
}

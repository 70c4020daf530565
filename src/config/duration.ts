/**
 * Durations as operators write them: a number and a unit, `1500ms`, `30s`, `5m`, `1.5h`, `24h`, `7d`, or several
 * such parts from the largest unit down, `1m30s`, `1h30m`. A bare number is refused on purpose: `60` could mean
 * seconds or milliseconds, and guessing wrong turns a one-minute poll into a 60 ms hammering of a rate-limited API.
 */

const UNIT_MS = {
  ms: 1,
  s: 1000,
  m: 60 * 1000,
  h: 60 * 60 * 1000,
  d: 24 * 60 * 60 * 1000,
} as const
type Unit = keyof typeof UNIT_MS

/** Largest first: the order a compound duration must use them (each at most once), and formatDuration tries them. */
const UNIT_ORDER: readonly Unit[] = ['d', 'h', 'm', 's', 'ms']
/** One part: a whole or decimal number (digits on both sides of the point) and a unit; `ms` before `m`. */
const PART = /(\d+)(?:\.(\d+))?(ms|s|m|h|d)/y

export const DURATION_HINT = 'use a number and a unit (ms, s, m, h, d), e.g. 30s, 5m, 1.5m, 1m30s, 24h, 7d'

/**
 * Milliseconds (surrounding whitespace ignored), or undefined for bare numbers, negative values, other units, units
 * out of order or repeated (`30s1m`, `1m1m`), spaces inside, or a fraction of a millisecond (`1.5ms`).
 */
export function parseDuration(text: string): number | undefined {
  const s = text.trim()
  if (s === '') return undefined
  let total = 0n
  let next = 0 // index into UNIT_ORDER: a later part needs a smaller unit
  PART.lastIndex = 0
  while (PART.lastIndex < s.length) {
    const match = PART.exec(s)
    if (match === null) return undefined
    const [, whole, fraction = '', unit] = match as unknown as [string, string, string | undefined, Unit]
    const at = UNIT_ORDER.indexOf(unit, next)
    if (at < 0) return undefined
    next = at + 1
    // Exact arithmetic: 1.1h is 3,960,000 ms, not 3,960,000.0000000005; a part must come to whole milliseconds.
    const scale = 10n ** BigInt(fraction.length)
    const scaled = BigInt(whole + fraction) * BigInt(UNIT_MS[unit])
    if (scaled % scale !== 0n) return undefined
    total += scaled / scale
    if (total > BigInt(Number.MAX_SAFE_INTEGER)) return undefined
  }
  return Number(total)
}

/** The shortest exact spelling that parseDuration reads back: 60000 → `1m`, 90000 → `90s`, 1500 → `1500ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`not a duration in milliseconds: ${ms}`)
  if (ms === 0) return '0s'
  const unit = UNIT_ORDER.find((u) => ms % UNIT_MS[u] === 0) ?? 'ms'
  return `${ms / UNIT_MS[unit]}${unit}`
}

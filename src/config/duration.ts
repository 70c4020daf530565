/**
 * Durations as operators write them: a whole number and one unit, `1500ms`, `30s`, `5m`, `24h`, `7d`.
 * A bare number is refused on purpose: `60` could mean seconds or milliseconds, and guessing wrong
 * turns a one-minute poll into a 60 ms hammering of a rate-limited API.
 */

const UNIT_MS = {
  ms: 1,
  s: 1000,
  m: 60 * 1000,
  h: 60 * 60 * 1000,
  d: 24 * 60 * 60 * 1000,
} as const
type Unit = keyof typeof UNIT_MS

/** Largest unit first, so formatDuration picks the shortest exact spelling; `ms` is the fallback. */
const UNITS_DESCENDING: readonly Unit[] = ['d', 'h', 'm', 's']

const DURATION = /^(\d+)(ms|s|m|h|d)$/

/** What to write instead, for error messages. */
export const DURATION_HINT = 'use 30s, 5m, 24h, 7d'

/**
 * Milliseconds for `1500ms`, `30s`, `5m`, `24h`, `7d` (surrounding whitespace ignored), or undefined when the
 * text is not such a duration: bare numbers, decimals, negative values, other units, compound forms.
 */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim())
  if (match === null) return undefined
  const [, amount, unit] = match as unknown as [string, string, Unit]
  const ms = Number(amount) * UNIT_MS[unit]
  return Number.isSafeInteger(ms) ? ms : undefined
}

/** The shortest exact spelling that parseDuration reads back: 60000 → `1m`, 90000 → `90s`, 1500 → `1500ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`not a duration in milliseconds: ${ms}`)
  if (ms === 0) return '0s'
  for (const unit of UNITS_DESCENDING) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`
  }
  return `${ms}ms`
}

/**
 * RFC 3339 timestamps → HrTime, to the nanosecond.
 *
 * `Date.parse` keeps milliseconds only and accepts many non-RFC forms (and, for some, guesses a local offset), so
 * the parsing is done here: the fraction is read as an integer of nanoseconds, the calendar date is validated
 * (no month 13, no Feb 30, Feb 29 only in leap years) and the day count uses integer arithmetic that is exact for
 * any year 0000..9999 (Date.UTC maps years 0..99 to 1900..1999).
 */
import type { HrTime } from './types.js'

// date, 'T' (RFC 3339 §5.6 also allows 't' and, by note, a space), time, optional fraction, offset (required).
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, "chrono-compatible low-level date algorithms"). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/**
 * Parses an RFC 3339 date-time: `2026-08-08T21:28:29Z`, `…29.119Z`, `…29.119123456+02:00`. The offset is required
 * (`Z` or `±hh:mm`). Fraction digits beyond nanoseconds are truncated. A leap second (`:60`) is accepted and counts as
 * the first second of the next minute, as POSIX time has no leap seconds. Anything else, including impossible dates
 * and times, gives `undefined`.
 */
export function hrTimeFromIso(s: string): HrTime | undefined {
  const m = RFC3339.exec(s)
  if (m === null) return undefined
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  const hour = Number(m[4])
  const minute = Number(m[5])
  const second = Number(m[6])
  if (month < 1 || month > 12 || day < 1) return undefined
  const maxDay = month === 2 && isLeapYear(year) ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0)
  if (day > maxDay || hour > 23 || minute > 59 || second > 60) return undefined
  let offsetSeconds = 0
  if (m[8] !== undefined) {
    const oh = Number(m[9])
    const om = Number(m[10])
    if (oh > 23 || om > 59) return undefined
    offsetSeconds = (m[8] === '-' ? -1 : 1) * (oh * 3600 + om * 60)
  }
  const frac = m[7]
  const nanos = frac === undefined ? 0 : Number(frac.length >= 9 ? frac.slice(0, 9) : frac.padEnd(9, '0'))
  const seconds = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offsetSeconds
  return [seconds, nanos]
}

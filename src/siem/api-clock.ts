/**
 * The SIEM API's now, which windows are planned by: a window ending after it is refused (400), or answered in part and,
 * once committed, skips the rest; and this machine's clock can be off by seconds (no NTP) or hours (a jump). From the
 * last answer's `Date` header and the monotonic time since, the API's now is known to the header's one-second
 * resolution whatever the wall clock does; while the two agree within that, the wall clock is used (it has ms).
 */
export const CLOCK_AGREEMENT_MS = 2_000

export class ApiClock {
  private observed: { apiMs: number; monoMs: number } | undefined

  constructor(
    private readonly wall: () => number,
    private readonly monotonic: () => number,
  ) {}

  private bound: { apiMs: number; monoMs: number } | undefined

  /** An API answer's `Date` header (epoch ms), read now. Unreadable dates are ignored by the caller. */
  observe(apiDateMs: number): void {
    this.observed = { apiMs: apiDateMs, monoMs: this.monotonic() }
  }

  /**
   * A time the API's clock is known to have reached (a saved cursor: the API answered through it), used until the
   * first answer when it is ahead of the wall clock: a machine whose clock is behind plans from it, not from a time
   * the cursor has already passed.
   */
  atLeast(apiMs: number): void {
    this.bound = { apiMs, monoMs: this.monotonic() }
  }

  /**
   * The API's now (epoch ms): the wall clock while it agrees with the API's, else the API's estimated time. Never
   * ahead of that estimate, which never runs ahead of the API: a wall clock a second or two ahead would plan windows
   * that end in the API's future, which it refuses (400).
   */
  now(): number {
    const wall = this.wall()
    const api = this.apiNow()
    if (api === undefined) return this.bound === undefined ? wall : Math.max(wall, this.bound.apiMs + (this.monotonic() - this.bound.monoMs))
    return Math.abs(wall - api) <= CLOCK_AGREEMENT_MS ? Math.min(wall, api) : api
  }

  /** The wall clock minus the API's clock, in ms (positive: this machine runs ahead); undefined before any answer. */
  skewMs(): number | undefined {
    const api = this.apiNow()
    return api === undefined ? undefined : this.wall() - api
  }

  private apiNow(): number | undefined {
    if (this.observed === undefined) return undefined
    // The header is truncated to the second and written before we read it: this never runs ahead of the API.
    return this.observed.apiMs + (this.monotonic() - this.observed.monoMs)
  }
}

/** An HTTP `Date` header (IMF-fixdate) as epoch ms, or undefined. */
export function parseHttpDate(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value
  if (v === undefined || !/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(v.trim())) return undefined
  const ms = Date.parse(v)
  return Number.isNaN(ms) ? undefined : ms
}

const API_TIME_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(:\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i

/**
 * A time the API writes (`queryEndTime`) as epoch ms, or undefined: RFC 3339 and the forms close to it that an API
 * or a gateway writes, an offset (`+00:00`, `-05:00`), no seconds, no zone (read as UTC: the API's times are UTC).
 * Never `Date.parse` alone: it takes "1" and reads a time without a zone as local time.
 */
export function parseApiTime(value: string): number | undefined {
  const m = API_TIME_RE.exec(value.trim())
  if (m === null) return undefined
  const zone = (m[3] ?? 'Z').toUpperCase()
  const text = `${m[1]}${m[2] ?? ':00'}${zone === 'Z' ? 'Z' : zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`}`
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) return undefined
  // 2026-02-30 parses (to March 2): the date must be one the calendar has.
  const [y, mo, d] = (m[1] ?? '').slice(0, 10).split('-').map(Number)
  const check = new Date(Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 0))
  return check.getUTCDate() === d && check.getUTCMonth() === (mo ?? 1) - 1 ? ms : undefined
}

/** The default monotonic clock: milliseconds that never jump with the wall clock. */
export const monotonicNow = (): number => performance.timeOrigin + performance.now()

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

  /** An API answer's `Date` header (epoch ms), read now. Unreadable dates are ignored by the caller. */
  observe(apiDateMs: number): void {
    this.observed = { apiMs: apiDateMs, monoMs: this.monotonic() }
  }

  /** The API's now (epoch ms): the wall clock while it agrees with the API's, else the API's estimated time. */
  now(): number {
    const wall = this.wall()
    const api = this.apiNow()
    if (api === undefined || Math.abs(wall - api) <= CLOCK_AGREEMENT_MS) return wall
    return api
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

/** The default monotonic clock: milliseconds that never jump with the wall clock. */
export const monotonicNow = (): number => performance.timeOrigin + performance.now()

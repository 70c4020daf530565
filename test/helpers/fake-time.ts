/**
 * A clock the test moves, and a sleep that follows it: the receiver's loop runs through simulated hours in
 * milliseconds and parks when it wants to sleep past the point the test allows.
 *
 * Two clocks, as on a real machine: time itself (`monotonic`, what sleeps measure) and the wall clock (`clock`), which
 * is time plus an offset that `shiftWall` changes, as an NTP step or a wrong system clock does.
 */
export interface FakeTime {
  /** The wall clock (epoch ms): time + the wall offset. */
  clock: () => number
  /** Time itself (epoch ms, never jumps): sleeps, and the simulated API's clock in clock-jump tests. */
  monotonic: () => number
  sleep: (ms: number, signal: AbortSignal) => Promise<void>
  /** Lets time run up to `ms` (epoch, monotonic). */
  advanceTo(ms: number): void
  /** Time passes while nothing runs (the receiver is down): time jumps to `ms`. */
  jumpTo(ms: number): void
  /** The wall clock jumps by `deltaMs` (negative: back); time itself goes on as before. */
  shiftWall(deltaMs: number): void
  /** Resolves once the loop is parked, waiting beyond the allowed time (or rejects after timeoutMs of real time). */
  idle(timeoutMs?: number): Promise<void>
}

export function fakeTime(startMs: number): FakeTime {
  let now = startMs
  let offset = 0
  let limit = startMs
  const parked = new Map<() => void, number>()
  return {
    clock: () => now + offset,
    monotonic: () => now,
    sleep(ms, signal) {
      return new Promise<void>((resolve) => {
        const target = now + ms
        const wake = (): void => {
          if (!signal.aborted && target > limit) return
          if (!signal.aborted) now = Math.max(now, target)
          parked.delete(wake)
          signal.removeEventListener('abort', wake)
          setImmediate(resolve)
        }
        parked.set(wake, target)
        signal.addEventListener('abort', wake)
        wake()
      })
    },
    advanceTo(ms) {
      limit = Math.max(limit, ms)
      for (const wake of [...parked.keys()]) wake()
    },
    jumpTo(ms) {
      now = Math.max(now, ms)
      this.advanceTo(ms)
    },
    shiftWall(deltaMs) {
      offset += deltaMs
    },
    async idle(timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs
      // Parked twice in a row a few ms apart: not just between two sleeps.
      let seen = 0
      while (seen < 2) {
        if (Date.now() > until) throw new Error(`the loop did not go idle (now=${new Date(now).toISOString()})`)
        seen = parked.size > 0 && [...parked.values()].every((t) => t > limit) ? seen + 1 : 0
        await new Promise((r) => setTimeout(r, 5))
      }
    },
  }
}

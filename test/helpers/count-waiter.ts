/** Waiting for a count to reach a number (records a sink received), woken by whoever adds to it. */
export interface CountWaiter {
  /** Call after the count grew. */
  wake(): void
  /** Resolves once count() >= n; rejects after timeoutMs with `what()` in the message. */
  waitFor(n: number, timeoutMs: number): Promise<void>
}

export function countWaiter(count: () => number, what: () => string): CountWaiter {
  const waiters = new Set<() => void>()
  return {
    wake() {
      for (const wake of [...waiters]) wake()
    },
    waitFor(n, timeoutMs) {
      if (count() >= n) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const wake = (): void => {
          if (count() < n) return
          clearTimeout(timer)
          waiters.delete(wake)
          resolve()
        }
        const timer = setTimeout(() => {
          waiters.delete(wake)
          reject(new Error(`${what()}: ${count()} of ${n} after ${timeoutMs} ms`))
        }, timeoutMs)
        waiters.add(wake)
      })
    },
  }
}

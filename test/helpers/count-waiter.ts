/** Waiting for a count to reach a number (records a sink received), woken by whoever adds to it. */
export interface CountWaiter {
  /** Call after the count grew. */
  wake(): void
  /** Resolves once count() >= n; rejects after timeoutMs saying `<name>: <count> of <n> records after <ms> ms (<detail()>)`. */
  waitFor(n: number, timeoutMs: number): Promise<void>
}

export function countWaiter(count: () => number, name: string, detail: () => string): CountWaiter {
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
          reject(new Error(`${name}: ${count()} of ${n} records after ${timeoutMs} ms (${detail()})`))
        }, timeoutMs)
        waiters.add(wake)
      })
    },
  }
}

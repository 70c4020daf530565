/**
 * The exports of one window, owned by the export side: records handed over one by one are cut into calls of
 * `batchSize`, at most `concurrency` calls unanswered at once (adding waits for a free slot: backpressure up to the
 * SIEM API's body), and the window is done when every call was answered. The first failure ends the session: it is
 * thrown from the next add() or from finish(), once every call in flight settled, so no export of a failed attempt
 * runs on into the next one.
 */
export interface ExportSession<R> {
  /** Queues a record; starts a call when a batch is full (waiting for a free slot). Rejects with an earlier failure. */
  add(record: R): Promise<void>
  /** Sends what is queued and resolves once every call was answered; rejects with the first failure, all settled. */
  finish(): Promise<void>
  /** Waits until no call is in flight, whatever their outcomes (after a failure elsewhere). */
  settle(): Promise<void>
}

export interface ExportSessionOptions<R, O> {
  /** One export call: resolves once the collector answered every record of it for good, rejects otherwise. */
  call: (records: R[]) => Promise<O>
  /** Told each call's records and outcome once it was answered. */
  answered: (records: R[], outcome: O) => void
  batchSize: number
  concurrency: number
}

export function exportSession<R, O>(opts: ExportSessionOptions<R, O>): ExportSession<R> {
  const { call, answered, batchSize, concurrency } = opts
  for (const [name, n] of [['batchSize', batchSize], ['concurrency', concurrency]] as const) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer, got ${n}`)
  }
  const inflight = new Set<Promise<void>>()
  let buffer: R[] = []
  let failure: { err: unknown } | undefined
  const settle = async (): Promise<void> => {
    await Promise.all(inflight)
  }
  const throwFailure = async (): Promise<void> => {
    if (!failure) return
    await settle()
    throw failure.err
  }
  const flush = async (): Promise<void> => {
    while (inflight.size >= concurrency && !failure) await Promise.race(inflight)
    await throwFailure()
    if (buffer.length === 0) return
    const records = buffer
    buffer = []
    const running: Promise<void> = call(records)
      .then((outcome) => answered(records, outcome))
      .catch((err: unknown) => {
        failure ??= { err }
      })
    inflight.add(running)
    void running.then(() => inflight.delete(running))
  }
  return {
    async add(record) {
      if (failure) return throwFailure()
      buffer.push(record)
      if (buffer.length >= batchSize) await flush()
    },
    async finish() {
      await flush()
      await settle()
      await throwFailure()
    },
    settle,
  }
}

/** Default request size limit: Fluent Bit's opentelemetry input takes at most 4 MB per request; leave headroom. */
export const DEFAULT_MAX_BATCH_BYTES = 3 * 1024 * 1024

/** One planned request: records [start, end) of an export call. */
export interface Batch {
  start: number
  end: number
  /** Exact (protobuf) or estimated (SDK path) request size, before compression. */
  bytes: number
}

/**
 * Cuts n records (sizes by index) into runs of at most maxBatchSize records and maxBatchBytes, each request's
 * `overheadBytes` (resource, scope, framing) included. A record larger than the limit goes alone.
 */
export function cutBatches(n: number, sizeOf: (i: number) => number, opts: { maxBatchSize: number; maxBatchBytes: number; overheadBytes: number }): Batch[] {
  const runs: Batch[] = []
  let start = 0
  let bytes = opts.overheadBytes
  for (let i = 0; i < n; i++) {
    const size = sizeOf(i)
    const count = i - start
    if (count > 0 && (count >= opts.maxBatchSize || bytes + size > opts.maxBatchBytes)) {
      runs.push({ start, end: i, bytes })
      start = i
      bytes = opts.overheadBytes
    }
    bytes += size
  }
  if (n > start) runs.push({ start, end: n, bytes })
  return runs
}

/**
 * Drops dedup keys that can no longer be re-reported: keeps the buckets whose window end (epoch ms) is at or after
 * `olderThanMs`. The poller passes the instant the next poll asks from (`reaskFrom`). Pure; the buckets are not decoded.
 */
export function pruneExportedKeys(buckets: Readonly<Record<string, string>>, olderThanMs: number): Record<string, string> {
  const kept: Record<string, string> = {}
  for (const [windowEnd, keys] of Object.entries(buckets)) {
    if (Number(windowEnd) >= olderThanMs) kept[windowEnd] = keys
  }
  return kept
}

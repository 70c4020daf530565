/**
 * Drops dedup keys that can no longer be re-reported: keeps the keys whose window end is at or after `olderThanMs`
 * (epoch ms). The poller passes `cursor − overlap − margin`, so a key lives longer than the overlap. Pure.
 */
export function pruneExportedKeys(keys: Readonly<Record<string, number>>, olderThanMs: number): Record<string, number> {
  const kept: Record<string, number> = {}
  for (const [key, windowEnd] of Object.entries(keys)) {
    if (windowEnd >= olderThanMs) kept[key] = windowEnd
  }
  return kept
}

/**
 * One attempt at one window, as a straight line: the SIEM client's batches → map → drop known keys → the export
 * session (which batches and overlaps the calls) → per key, acknowledged or refused. Memory holds a few batches,
 * not the window. Throws whatever failed (the source's typed SiemApiError, the export's ExportError); the keys
 * acknowledged before the failure stay in `done`, so the next attempt does not send them again.
 */
import type { Logger } from 'pino'
import { exportSession } from '../export/export-session.js'
import { mapEvent } from '../mapping/index.js'
import type { HrTime, MappedRecord, MappingOptions } from '../mapping/types.js'
import type { EventBatch, WindowSummary } from '../siem/client.js'
import { EVENT_TYPES } from '../siem/types.js'
import type { EventType, JsonValue, TimeWindow } from '../siem/types.js'
import { UidKeyMap } from '../state/index.js'
import { REJECTED } from './commit.js'
import type { Acknowledged } from './commit.js'
import type { ExportOutcome, WindowSource } from './types.js'

export type EventCounts = Record<EventType, { received: number; malformed: number; duplicates: number; truncated: number }>

export interface WindowAttempt {
  summary: WindowSummary
  /** Keys in this window not exported before it (each exported or refused by now), with their type's index. */
  fresh: UidKeyMap
  counts: EventCounts
}

export interface WindowRunDeps {
  source: WindowSource
  /** One export call (the poller's, which also reports it to /status and /metrics). */
  exportRecords: (records: MappedRecord[]) => Promise<ExportOutcome>
  /** Records per export call, and calls unanswered at once. */
  batchSize: number
  concurrency: number
  mapping: MappingOptions
  /** Keys exported by earlier windows: never sent again. */
  exported: UidKeyMap
  logger: Logger
  /** The wall clock: each batch's observed timestamp. */
  clock: () => number
  /** The loop is making progress (a batch arrived). */
  progress: () => void
  onExported?: (records: readonly MappedRecord[]) => void
}

const hrTime = (ms: number): HrTime => [Math.floor(ms / 1000), (ms % 1000) * 1e6]

export async function runWindow(deps: WindowRunDeps, window: TimeWindow, signal: AbortSignal, done: Acknowledged): Promise<WindowAttempt> {
  const fresh = new UidKeyMap()
  const counts = {} as EventCounts
  for (const type of EVENT_TYPES) counts[type] = { received: 0, malformed: 0, duplicates: 0, truncated: 0 }
  const exports = exportSession<MappedRecord, ExportOutcome>({
    call: deps.exportRecords,
    answered: (records, outcome) => acknowledge(deps, records, outcome, done),
    batchSize: deps.batchSize,
    concurrency: deps.concurrency,
  })
  const events = deps.source.events(window, signal, deps.batchSize)
  try {
    for await (const batch of events) {
      deps.progress()
      for (const record of admit(deps, batch, fresh, done, counts)) await exports.add(record)
    }
    await exports.finish()
  } catch (err) {
    // Never leave exports of this attempt running into the next one.
    await exports.settle()
    throw err
  }
  return { summary: events.summary!, fresh, counts }
}

/**
 * Maps a batch (each event with its own text, where the batch has them: the body) and keeps the records to send: not
 * exported before, not seen earlier in the window, not acknowledged by an earlier attempt.
 */
function admit(deps: WindowRunDeps, batch: EventBatch, fresh: UidKeyMap, done: Acknowledged, counts: EventCounts): MappedRecord[] {
  const observed = hrTime(deps.clock())
  const out: MappedRecord[] = []
  for (const type of EVENT_TYPES) {
    const c = counts[type]
    const events = batch.events[type]
    const texts = batch.texts?.[type]
    for (let i = 0; i < events.length; i++) {
      const record = mapEvent(events[i] as JsonValue, type, deps.mapping, observed, texts?.[i])
      c.received++
      c.truncated += record.truncated ?? 0
      if (record.malformed.length > 0) {
        c.malformed++
        deps.logger.warn({ eventType: type, uid: record.uid, reasons: record.malformed }, 'malformed event: exported as received, counted')
      }
      // Re-reported: read again by a sweep, or the boundary instant both neighbouring windows include (END is inclusive).
      if (deps.exported.has(record.uid) || fresh.has(record.uid)) {
        c.duplicates++
        continue
      }
      fresh.set(record.uid, EVENT_TYPES.indexOf(type))
      if (!done.has(record.uid)) out.push(record)
    }
  }
  return out
}

/** Records, per key, that the collector took a call's records or refused them for good. */
function acknowledge(deps: WindowRunDeps, records: MappedRecord[], outcome: ExportOutcome, done: Acknowledged): void {
  const rejected = [
    ...(outcome.rejected ?? []),
    ...(outcome.partialRejections ?? []).flatMap((p) =>
      Array.from({ length: Math.min(p.rejected, p.end - p.start) }, (_, i) => ({ index: p.start + i, reason: `partial success: ${p.message}` })),
    ),
  ]
  const refused = new Set(rejected.map((r) => r.index))
  records.forEach((r, i) => done.set(r.uid, EVENT_TYPES.indexOf(r.eventType) | (refused.has(i) ? REJECTED : 0)))
  if (rejected.length > 0) {
    const reasons = new Map<string, number>()
    for (const { reason } of rejected) reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
    for (const [reason, n] of reasons) {
      deps.logger.error({ records: n, reason }, 'the collector permanently rejected records: not retried, counted in /status totals.rejected')
    }
  }
  const accepted = refused.size === 0 ? records : records.filter((_, i) => !refused.has(i))
  if (accepted.length > 0) deps.onExported?.(accepted)
}

/**
 * One attempt at one window, as a straight line: the SIEM client's batches → map → drop known keys → the export
 * session (which batches and overlaps the calls) → per key, acknowledged or refused. Memory holds a few batches,
 * not the window. With a worker pool, batches arrive unparsed and the threads map and encode them (one batch per
 * thread in flight, taken back in order); dedup, acknowledgements and the export stay here. Throws whatever failed (the source's typed SiemApiError, the export's ExportError); the keys
 * acknowledged before the failure stay in `done`, so the next attempt does not send them again.
 */
import type { Logger } from 'pino'
import { SiemBadResponseError } from '../errors.js'
import { exportSession } from '../export/export-session.js'
import { INVALID_UTF8_REASON, mapEvent } from '../mapping/index.js'
import { isEncoded } from '../mapping/types.js'
import type { EncodedRecord, HrTime, MappedRecord, MappingOptions } from '../mapping/types.js'
import type { EventBatch, WindowSummary } from '../siem/client.js'
import { EVENT_TYPES } from '../siem/types.js'
import type { EventType, JsonValue, RawEvents, TimeWindow } from '../siem/types.js'
import type { TypeCounts } from '../status/index.js'
import { isParseFailure } from '../workers/encode-batch.js'
import type { BatchResult, EncodedBatch } from '../workers/encode-batch.js'
import { UidKeyMap } from '../state/index.js'
import { REJECTED } from './commit.js'
import type { Acknowledged } from './commit.js'
import type { ExportOutcome, WindowSource } from './types.js'

export type EventCounts = Record<EventType, { received: number; malformed: number; duplicates: number }>

export interface WindowAttempt {
  summary: WindowSummary
  /** Keys in this window not exported before it (each exported or refused by now), with their type's index. */
  fresh: UidKeyMap
  counts: EventCounts
}

/** What a window is mapped with when not in the main thread: the worker pool (src/workers/pool.ts). */
export interface BatchMapper {
  /** Threads: batches in flight at once. */
  readonly size: number
  run(raw: RawEvents, observed: HrTime): Promise<BatchResult>
  /** A result's buffer whose records were all answered (or dropped as known): encode later batches into it. */
  recycle?(buffer: ArrayBuffer): void
  /** A buffer for a raw batch of `size` bytes, recycled from earlier batches when one is large enough. */
  rawBuffer?(size: number): Uint8Array
}

/** A record of a window: mapped here, or encoded by a worker. */
export type WindowRecord = MappedRecord | EncodedRecord

export interface WindowRunDeps {
  source: WindowSource
  /** One export call (the poller's, which also reports it to /status and /metrics). */
  exportRecords: (records: WindowRecord[]) => Promise<ExportOutcome>
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
  /** Map and encode in worker threads (RECEIVER_WORKERS > 0); in this thread when absent. */
  workers?: BatchMapper
  /** Told the records mapped in this thread (the app maps here when something wants to read them, e.g. the demo). */
  onExported?: (records: readonly MappedRecord[]) => void
  /**
   * Told, as each export call is answered, what its records count by type: received, exported or rejected, malformed,
   * attribute values cut in those the collector took. Each key is answered once, so a window left before its commit
   * (a stop, a request budget running out) has counted what it delivered, which the next read of it skips as known.
   */
  count?: (type: EventType, counts: Partial<TypeCounts>) => void
}

const hrTime = (ms: number): HrTime => [Math.floor(ms / 1000), (ms % 1000) * 1e6]

/** What an attempt has seen of its window so far. */
interface WindowTally {
  fresh: UidKeyMap
  /** Acknowledged by this or an earlier attempt. */
  done: Acknowledged
  counts: EventCounts
  malformed: MalformedEvents
}

export async function runWindow(deps: WindowRunDeps, window: TimeWindow, signal: AbortSignal, done: Acknowledged): Promise<WindowAttempt> {
  const fresh = new UidKeyMap()
  const counts = {} as EventCounts
  for (const type of EVENT_TYPES) counts[type] = { received: 0, malformed: 0, duplicates: 0 }
  const tally: WindowTally = { fresh, done, counts, malformed: new MalformedEvents() }
  const exports = exportSession<WindowRecord, ExportOutcome>({
    call: deps.exportRecords,
    answered: (records, outcome) => acknowledge(deps, records, outcome, done),
    batchSize: deps.batchSize,
    concurrency: deps.concurrency,
  })
  const { workers } = deps
  const raw = workers === undefined ? false : workers.rawBuffer ? { buffer: (size: number) => workers.rawBuffer!(size) } : true
  const events = deps.source.events(window, signal, deps.batchSize, raw)
  /** Batches in the threads, oldest first. */
  const mapping: Array<Promise<BatchResult>> = []
  const takeOldest = async (): Promise<void> => {
    const result = await mapping.shift()!
    // The worker parsed what the tokenizer did not: an event that is not JSON is the API's answer going wrong.
    if (isParseFailure(result)) {
      const error = new SiemBadResponseError(result.parseError, events.answered?.status)
      error.seconds = events.answered?.seconds
      throw error
    }
    for (const record of admitEncoded(deps, result, tally)) await exports.add(record)
  }
  try {
    for await (const batch of events) {
      deps.progress()
      if (batch.raw !== undefined && workers !== undefined) {
        const result = workers.run(batch.raw, hrTime(deps.clock()))
        result.catch(() => undefined) // awaited below, or abandoned with the attempt: never an unhandled rejection
        mapping.push(result)
        // One batch per thread, and the next one read meanwhile: memory holds a few batches.
        while (mapping.length > workers.size) await takeOldest()
        continue
      }
      for (const record of admit(deps, batch, tally)) await exports.add(record)
    }
    while (mapping.length > 0) await takeOldest()
    events.settle?.()
    await exports.finish()
    tally.malformed.log(deps.logger, window)
  } catch (err) {
    // A thread found an event that is not JSON: the request failed after all. Anything else: the answer was fine.
    events.settle?.(err instanceof SiemBadResponseError ? err : undefined)
    // Never leave exports (or threads' batches) of this attempt running into the next one.
    await Promise.allSettled(mapping)
    await exports.settle()
    throw err
  }
  return { summary: events.summary!, fresh, counts }
}

/** A record's key is new: not exported before, not seen earlier in the window. Counts a duplicate otherwise. */
function isFresh(deps: WindowRunDeps, uid: string, type: number, fresh: UidKeyMap, c: EventCounts[EventType]): boolean {
  // Re-reported: read again by a sweep, or the boundary instant both neighbouring windows include (END is inclusive).
  if (deps.exported.has(uid) || fresh.has(uid)) {
    c.duplicates++
    return false
  }
  fresh.set(uid, type)
  return true
}

/**
 * Whether to send a record: its key is new to the window (isFresh) and no earlier attempt had it acknowledged. A
 * malformed one is counted and noted when new to the window only: a sweep reads it again, a retry reads the window
 * again, and the final attempt's counts are the window's.
 */
function admits(deps: WindowRunDeps, w: WindowTally, t: number, uid: string, reasons: readonly string[] | undefined): boolean {
  const type = EVENT_TYPES[t]!
  const c = w.counts[type]
  if (!isFresh(deps, uid, t, w.fresh, c)) return false
  if (reasons !== undefined && reasons.length > 0) {
    c.malformed++
    w.malformed.add(type, uid, reasons)
  }
  return !w.done.has(uid)
}

/** Reasons and events a window's malformed warning names at most: its size does not grow with the window. */
const MALFORMED_REASONS_LOGGED = 10
const MALFORMED_EVENTS_LOGGED = 3

/** A window's malformed events: one warning for the window (how many, by reason, the first few), not one per event. */
class MalformedEvents {
  private count = 0
  private readonly reasons = new Map<string, number>()
  private otherReasons = 0
  private readonly first: Array<{ eventType: EventType; uid: string; reasons: readonly string[] }> = []

  add(eventType: EventType, uid: string, reasons: readonly string[]): void {
    this.count++
    if (this.first.length < MALFORMED_EVENTS_LOGGED) this.first.push({ eventType, uid, reasons })
    for (const reason of reasons) {
      const n = this.reasons.get(reason)
      if (n !== undefined) this.reasons.set(reason, n + 1)
      else if (this.reasons.size < MALFORMED_REASONS_LOGGED) this.reasons.set(reason, 1)
      else this.otherReasons++
    }
  }

  log(logger: Logger, window: TimeWindow): void {
    if (this.count === 0) return
    logger.warn(
      {
        window: { start: window.start.toISOString(), end: window.end.toISOString() },
        malformed: this.count,
        reasons: [...this.reasons].map(([reason, events]) => ({ reason, events })),
        ...(this.otherReasons > 0 ? { otherReasons: this.otherReasons } : {}),
        first: this.first,
      },
      'malformed events exported as received, counted in /status totals.malformed: how many this window exported, by reason, the first few',
    )
  }
}

/** admit() for a batch a worker mapped and encoded: the same counts, logs and keys, the records as bytes. */
function admitEncoded(deps: WindowRunDeps, result: EncodedBatch, w: WindowTally): EncodedRecord[] {
  const { bytes, ends, types, uids, truncated, droppedAttributes } = result
  const malformed = new Map(result.malformed)
  const out: EncodedRecord[] = []
  // The batch's buffer goes back to the mapper once every record sent from it was answered (acknowledge()).
  const lease = { left: 0, release: () => deps.workers?.recycle?.(bytes.buffer as ArrayBuffer) }
  for (let i = 0; i < uids.length; i++) {
    const t = types[i]!
    const type = EVENT_TYPES[t]!
    const uid = uids[i]!
    const c = w.counts[type]
    c.received++
    const reasons = malformed.get(i)
    if (!admits(deps, w, t, uid, reasons)) continue
    out.push({
      uid,
      eventType: type,
      encoded: bytes.subarray(i === 0 ? 0 : ends[i - 1]!, ends[i]),
      droppedAttributes: droppedAttributes[i]!,
      lease,
      malformed: reasons ?? [],
      ...(truncated[i]! > 0 ? { truncated: truncated[i]! } : {}),
    })
  }
  lease.left = out.length
  if (out.length === 0) lease.release()
  return out
}

/**
 * Maps a batch (each event with its own text, where the batch has them: the body) and keeps the records to send: not
 * exported before, not seen earlier in the window, not acknowledged by an earlier attempt.
 */
function admit(deps: WindowRunDeps, batch: EventBatch, w: WindowTally): MappedRecord[] {
  const observed = hrTime(deps.clock())
  const out: MappedRecord[] = []
  for (const [t, type] of EVENT_TYPES.entries()) {
    const c = w.counts[type]
    const events = batch.events[type]
    const texts = batch.texts?.[type]
    for (let i = 0; i < events.length; i++) {
      const text = texts?.[i]
      const record = mapEvent(events[i] as JsonValue, type, deps.mapping, observed, text)
      if (text !== undefined && batch.invalidUtf8?.has(text) === true) record.malformed.push(INVALID_UTF8_REASON)
      c.received++
      if (admits(deps, w, t, record.uid, record.malformed)) out.push(record)
    }
  }
  return out
}

/**
 * A collector's warnings, by their text without numbers and ids (a collector may say the same with every request, with
 * its counts, times or request ids in it): when each was last logged, and how often it came since.
 */
const warned = new Map<string, { at: number; since: number }>()
const WARNING_EVERY_MS = 3_600_000
/** Warnings kept: past this many logged in the last hour, others are counted, not logged. */
const WARNINGS_KEPT = 64
/** Warnings not logged since the last one logged, because WARNINGS_KEPT others were within the hour. */
let warningsNotLogged = 0

/** The warning with each run of hex digits holding a digit (counts, times, ids) as `#`; its first 1 KiB. */
function warningKey(warning: string): string {
  return warning.slice(0, 1024).replace(/[0-9a-f]+/gi, (run) => (/\d/.test(run) ? '#' : run))
}

function warnAtMostHourly(deps: WindowRunDeps, warning: string): void {
  const now = deps.clock()
  const recent = (at: number): boolean => now - at < WARNING_EVERY_MS && now >= at
  const key = warningKey(warning)
  const last = warned.get(key)
  if (last !== undefined && recent(last.at)) {
    last.since++
    return
  }
  if (last === undefined && warned.size >= WARNINGS_KEPT) {
    for (const [k, w] of warned) if (!recent(w.at)) warned.delete(k)
    if (warned.size >= WARNINGS_KEPT) {
      warningsNotLogged++
      return
    }
  }
  warned.set(key, { at: now, since: 0 })
  const repeated = last?.since ?? 0
  deps.logger.warn(
    { warning, ...(repeated > 0 ? { repeatedSinceLogged: repeated } : {}), ...(warningsNotLogged > 0 ? { otherWarningsNotLogged: warningsNotLogged } : {}) },
    'the collector took the records with a warning (OTLP partial success); the same warning (numbers and ids aside) is logged at most once an hour',
  )
  warningsNotLogged = 0
}

/** Records, per key, that the collector took a call's records or refused them for good. */
function acknowledge(deps: WindowRunDeps, records: WindowRecord[], outcome: ExportOutcome, done: Acknowledged): void {
  const rejected = [
    ...(outcome.rejected ?? []),
    ...(outcome.partialRejections ?? []).flatMap((p) =>
      Array.from({ length: Math.min(p.rejected, p.end - p.start) }, (_, i) => ({ index: p.start + i, reason: `partial success: ${p.message}` })),
    ),
  ]
  const refused = new Set(rejected.map((r) => r.index))
  const counts = new Map<EventType, Omit<TypeCounts, 'duplicates'>>()
  records.forEach((r, i) => {
    const isRefused = refused.has(i)
    done.set(r.uid, EVENT_TYPES.indexOf(r.eventType) | (isRefused ? REJECTED : 0))
    // The export copied the bytes when it planned its requests: the last record of a batch answered frees its buffer.
    if (isEncoded(r) && r.lease !== undefined && --r.lease.left === 0) r.lease.release()
    let c = counts.get(r.eventType)
    if (c === undefined) counts.set(r.eventType, (c = { received: 0, exported: 0, rejected: 0, malformed: 0, truncated: 0 }))
    c.received++
    if (isRefused) c.rejected++
    else c.exported++
    if (r.malformed.length > 0) c.malformed++
    // Like attributes_dropped_total: cuts in what the collector took, not in records it refused or never got.
    if (!isRefused) c.truncated += r.truncated ?? 0
  })
  if (deps.count !== undefined) for (const [type, c] of counts) deps.count(type, c)
  if (rejected.length > 0) {
    const reasons = new Map<string, number>()
    for (const { reason } of rejected) reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
    for (const [reason, n] of reasons) {
      deps.logger.error({ records: n, reason }, 'the collector permanently rejected records: not retried, counted in /status totals.rejected')
    }
  }
  for (const warning of outcome.warnings ?? []) warnAtMostHourly(deps, warning)
  const accepted = refused.size === 0 ? records : records.filter((_, i) => !refused.has(i))
  if (deps.onExported === undefined) return
  const mapped = accepted.filter((r): r is MappedRecord => !isEncoded(r))
  if (mapped.length > 0) deps.onExported(mapped)
}

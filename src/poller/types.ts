/** The poller's contracts: what it takes from the SIEM client, the export pipeline and its caller. */
import type { Logger } from 'pino'
import type { BackoffPolicy } from '../backoff.js'
import type { ExportRequestOutcome } from '../export/report.js'
import type { ExportRecord, MappedRecord, MappingOptions } from '../mapping/types.js'
import type { ApiClock } from '../siem/api-clock.js'
import type { WindowEvents } from '../siem/client.js'
import type { RawMode, TimeWindow } from '../siem/types.js'
import type { WindowLimits, WindowTargets } from '../siem/windows.js'
import type { BatchMapper } from './window-run.js'
import type { StateSource, StateStore } from '../state/index.js'
import type { ReceiverStatus } from '../status/index.js'

/** What the poller needs from the SIEM client: a window's events as they stream in (see SiemClient.events). */
export interface WindowSource {
  /** `raw`: the batches hold the events' bytes unparsed (EventBatch.raw), for the worker pool. */
  events(window: TimeWindow, signal: AbortSignal, batchEvents: number, raw?: RawMode): WindowEvents
}

/** Records the collector refused for good (by index into what was sent), so they are counted, not retried forever. */
export interface ExportOutcome {
  /** OTLP requests the collector acknowledged (when `requests` is not given: a test double's count). */
  batches?: number
  /** Every OTLP request sent, by how it was answered (the pipeline's report says). */
  requests?: Partial<Record<ExportRequestOutcome, number>>
  /** Request body bytes sent in the acknowledged requests (the pipeline's report says; a test double need not). */
  bytes?: number
  rejected?: ReadonlyArray<{ index: number; reason: string }>
  /**
   * OTLP partial success: the collector took the request [start, end) but dropped `rejected` of its records without
   * saying which. Counted against the first records of the range, so totals are right and per-type counts approximate.
   */
  partialRejections?: ReadonlyArray<{ start: number; end: number; rejected: number; message: string }>
  /** Attributes dropped over OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT, and requests split after a 413 (shown in /status, /metrics). */
  droppedAttributes?: number
  splits?: number
  /** What the collector said while taking the records (OTLP partial success with none rejected): logged. */
  warnings?: readonly string[]
}

/** What the poller needs from the export pipeline: resolves once every record was acknowledged or refused for good, else throws. */
export interface RecordSink {
  exportRecords(records: ExportRecord[]): Promise<ExportOutcome | void>
  /** Calls the sink takes at once (the export pipeline's RECEIVER_EXPORT_CONCURRENCY); 1 when it does not say. */
  readonly maxConcurrency?: number
}

/** What the poller reports to /metrics besides what ReceiverStatus holds. */
export interface PollerMetrics {
  observeApiRequest(outcome: 'ok' | 'error', statusCode: number | undefined, seconds: number, bytes?: number): void
  observeExport(outcome: ExportRequestOutcome, requests: number, seconds?: number, bytes?: number): void
}

export interface PollerOptions {
  pollIntervalMs: number
  startLookbackMs: number
  /** The SIEM API account and event selection polled: kept in the state, a change since is said at start. */
  source?: StateSource
  /** Events the API indexes up to this late are still exported: the late-event sweeps' last stage reads each span after it. */
  overlapMs: number
  /** What a sweep reads at once when it keeps up (checkRequestBudget's sweepSpanFor); SWEEP_SPAN_MS by default. */
  sweepSpanMs?: number
  /** SIEM API requests allowed per rolling 24 h. */
  requestBudget: number
  /** Records per export call while a window streams in (RECEIVER_EXPORT_BATCH_SIZE; the pipeline cuts them into OTLP requests). */
  exportBatchSize: number
  /** Past these, later windows shrink (see adaptWindowMs). */
  windowTargets: WindowTargets
  mapping: MappingOptions
  limits?: WindowLimits
  backoff?: BackoffPolicy
  authBackoff?: BackoffPolicy
}

export interface PollerDeps {
  source: WindowSource
  sink: RecordSink
  store: StateStore
  status: ReceiverStatus
  logger: Logger
  /** The wall clock (epoch ms): request budget, state and status times. */
  clock?: () => number
  /** A clock that never jumps (ms), for waits and liveness; `monotonicNow` by default. */
  monotonic?: () => number
  /** The SIEM API's now, which windows are planned by (fed by the SIEM client's Date headers); from `clock` by default. */
  apiClock?: ApiClock
  /** `sleep` must measure `ms` on the monotonic clock (setTimeout does). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  metrics?: PollerMetrics
  /** Maps and encodes in worker threads (RECEIVER_WORKERS); in the poller's thread when absent. */
  workers?: BatchMapper
  /** Called with the records the collector took, per export call (the demo prints them). */
  onExported?: (records: readonly MappedRecord[]) => void
}

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

import { EXPORT_REQUEST_OUTCOMES } from '../export/report.js'
import type { ExportRequestOutcome } from '../export/report.js'
import type { EventType } from '../siem/types.js'
import type { ReceiverStatus, StatusSnapshot, SweepView, TypeCounts } from '../status/index.js'

export const METRIC_PREFIX = 'proofpoint_receiver_'

/** Seconds: a SIEM API answer takes ~50 ms, a catch-up window or an export call with its retries up to minutes. */
const DURATION_BUCKETS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

export type ApiOutcome = 'ok' | 'error'
/** How the collector answered one OTLP request (see EXPORT_REQUEST_OUTCOMES); an export call is `ok` or `error`. */
export type ExportOutcome = ExportRequestOutcome

export interface ReceiverMetricsOptions {
  /** The live status the poller maintains; the event, time and budget metrics are read from it at scrape time. */
  status: ReceiverStatus
  /** epoch ms; defaults to Date.now */
  now?: () => number
  /** The registry to register in; a fresh one by default (never prom-client's global registry unless passed). */
  registry?: Registry
  /**
   * Adds prom-client's process and Node.js runtime metrics (CPU, memory, event loop lag, GC…) under their standard
   * names (`process_cpu_seconds_total`, `nodejs_heap_size_used_bytes`, …), which stock dashboards look for. Default true.
   */
  collectProcessMetrics?: boolean
}

/** The per-type counters of {@link ReceiverStatus}, each `proofpoint_receiver_<name>{event_type}`. */
const EVENT_COUNTERS: ReadonlyArray<{ kind: keyof TypeCounts; name: string; help: string }> = [
  { kind: 'received', name: 'events_received_total', help: 'Events the SIEM API returned (duplicates and malformed ones included), each counted once the collector answered for it or it was skipped as a duplicate: received = exported + rejected + duplicates.' },
  { kind: 'exported', name: 'events_exported_total', help: 'Events the OTLP endpoint acknowledged as log records, counted as it answered (also in a window the receiver left before its commit: a stop, a request budget used up).' },
  { kind: 'malformed', name: 'events_malformed_total', help: 'Events that did not match the expected shape; exported as received.' },
  { kind: 'rejected', name: 'events_rejected_total', help: 'Events the collector refused for good (a 4xx other than 429, or partial success); not retried.' },
  { kind: 'duplicates', name: 'events_duplicates_total', help: 'Events skipped because they had already been exported (read again by a late-event sweep, or on a window boundary).' },
  { kind: 'truncated', name: 'attribute_values_truncated_total', help: 'Attribute values cut to OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT in the records the collector acknowledged (the body keeps the whole event).' },
]

/**
 * The receiver's Prometheus metrics (`GET /metrics`), on a registry of its own. What {@link ReceiverStatus} counts is
 * read from one `status.snapshot(now)` per scrape, so `/metrics` and `/status` never disagree; what only exists as an
 * observation (SIEM API requests, export calls) comes through {@link observeApiRequest} and {@link observeExport}.
 * Labels take values from closed sets only, never error text: no secret and no unbounded series reach the output.
 * Before the first success the "last successful … timestamp" gauges are 0, so `time() - x > N` alerts fire; the cursor
 * lag and the request budget have no sample until known (a made-up 0 would read as "caught up" or "no budget").
 */
export class ReceiverMetrics {
  readonly registry: Registry
  private readonly status: ReceiverStatus
  private readonly now: () => number
  /** The snapshot of the scrape in progress (render()), shared by every collect() so all values are of one instant. */
  private scrape: StatusSnapshot | undefined
  private readonly apiRequests: Counter<'outcome' | 'status_code'>
  private readonly apiDuration: Histogram<'outcome'>
  private readonly exportRequests: Counter<'outcome'>
  private readonly exportDuration: Histogram<'outcome'>
  private readonly apiBytes: Counter
  private readonly exportBytes: Counter

  constructor(opts: ReceiverMetricsOptions) {
    this.status = opts.status
    this.now = opts.now ?? Date.now
    this.registry = opts.registry ?? new Registry()
    const registers = [this.registry]
    const snap = (): StatusSnapshot => this.scrape ?? this.status.snapshot(this.now())

    for (const { kind, name, help } of EVENT_COUNTERS) {
      const counter: Counter<'event_type'> = new Counter({
        name: METRIC_PREFIX + name,
        help,
        labelNames: ['event_type'],
        registers,
        collect: () => {
          // The status counters only grow (since process start), so setting the counter to them is truthful.
          counter.reset()
          const byType: Partial<Record<EventType, TypeCounts>> = snap().totals.byType
          for (const [type, row] of Object.entries(byType)) counter.inc({ event_type: type }, row[kind])
        },
      })
    }

    this.apiRequests = new Counter({
      name: `${METRIC_PREFIX}api_requests_total`,
      help: 'SIEM API requests by outcome and the HTTP status of the answer, also when its body then failed (cut, not JSON, stalled); status_code="none" when no answer came (network error, timeout before the headers).',
      labelNames: ['outcome', 'status_code'],
      registers,
    })
    this.apiDuration = new Histogram({
      name: `${METRIC_PREFIX}api_request_duration_seconds`,
      help: 'SIEM API request duration in seconds: from sending it to the end of its body (or its failure), reading it included; the time the receiver spent mapping and exporting the events it had read is left out (a body is read only as fast as its records are exported).',
      labelNames: ['outcome'],
      buckets: [...DURATION_BUCKETS],
      registers,
    })
    this.exportRequests = new Counter({
      name: `${METRIC_PREFIX}export_requests_total`,
      help: "OTLP requests sent, each once, by the collector's answer (the exporter's own retries included): ok (acknowledged, a partial success too), rejected (refused as data: not sent again, but for halves sent to find the record refused), too_large (over its size limit: 413 or gRPC RESOURCE_EXHAUSTED saying so; sent again in halves), error (no answer, 429, 5xx, a timeout, a wrong endpoint or credentials: sent again later).",
      labelNames: ['outcome'],
      registers,
    })
    this.exportDuration = new Histogram({
      name: `${METRIC_PREFIX}export_duration_seconds`,
      help: 'Duration in seconds of one export call: a batch of up to RECEIVER_EXPORT_BATCH_SIZE records, sent as one OTLP request or more (cut to stay under 3 MiB, halved after a 413), the exporter\'s retries within OTEL_EXPORTER_OTLP_TIMEOUT included; by outcome: ok (every record acknowledged or refused as data), error (the call failed: its records are sent again).',
      labelNames: ['outcome'],
      buckets: [...DURATION_BUCKETS],
      registers,
    })
    this.apiBytes = new Counter({
      name: `${METRIC_PREFIX}api_bytes_total`,
      help: 'SIEM API response body bytes read (as received on the wire), over the requests that succeeded.',
      registers,
    })
    this.exportBytes = new Counter({
      name: `${METRIC_PREFIX}export_bytes_total`,
      help: 'OTLP request body bytes sent in the requests the collector acknowledged (also those of a call whose later requests failed): after compression over OTLP/HTTP, before it over OTLP/gRPC (grpc-js compresses).',
      registers,
    })
    // Known label values start at 0, so rate() and increase() work from the first scrape.
    for (const outcome of ['ok', 'error'] as const) this.apiDuration.zero({ outcome })
    for (const outcome of EXPORT_REQUEST_OUTCOMES) this.exportRequests.inc({ outcome }, 0)
    for (const outcome of ['ok', 'error', 'rejected'] as const) this.exportDuration.zero({ outcome })

    const gauge = (name: string, help: string, value: (s: StatusSnapshot) => number | null): void => {
      const g: Gauge = new Gauge({
        name: METRIC_PREFIX + name,
        help,
        registers,
        collect: () => {
          const v = value(snap())
          if (v === null) g.remove()
          else g.set(v)
        },
      })
    }
    gauge('cursor_lag_seconds', 'Seconds between now by the SIEM API clock and the cursor (the end of the last acknowledged window); no sample before there is a cursor.', (s) => s.lagSeconds)
    gauge('last_successful_poll_timestamp_seconds', 'Unix time of the last successful SIEM API call; 0 before the first.', (s) => isoSeconds(s.lastSuccessfulPollAt))
    gauge('last_successful_export_timestamp_seconds', 'Unix time of the last export the OTLP endpoint acknowledged; 0 before the first.', () => {
      const at = this.status.lastSuccessfulExportAt()
      return at === undefined ? 0 : at / 1000
    })
    gauge('api_requests_last_24h', 'SIEM API requests made in the last 24 hours (rolling), those before a restart included.', (s) => s.apiRequestsLast24h)
    gauge('request_budget', 'SIEM API requests allowed per rolling 24 h (PROOFPOINT_REQUEST_BUDGET); no sample before it is known.', (s) => s.requestBudget.limit)
    gauge(
      'request_budget_waiting',
      '1 while the receiver holds back because the request budget is used up, else 0.',
      (s) => (s.requestBudget.waitingUntil === null ? 0 : 1),
    )
    gauge(
      'no_events_alert',
      '1 when no event was exported for RECEIVER_NO_EVENTS_ALERT_AFTER (counted from process start when there never was one), else 0.',
      (s) => (s.noEvents.alerting ? 1 : 0),
    )
    gauge('no_events_threshold_seconds', 'RECEIVER_NO_EVENTS_ALERT_AFTER in seconds.', (s) => s.noEvents.thresholdSeconds)
    gauge('ready', '1 when /readyz would answer 200 (state directory, credentials, last SIEM API call and last export fine), else 0.', () =>
      this.status.readiness(this.now()).ready ? 1 : 0,
    )

    /** A counter set from the status at each scrape (its values only grow, since process start or kept across restarts). */
    const counter = (name: string, help: string, value: (s: StatusSnapshot) => number): void => {
      const c: Counter = new Counter({
        name: METRIC_PREFIX + name,
        help,
        registers,
        collect: () => {
          c.reset()
          c.inc(value(snap()))
        },
      })
    }
    gauge('worker_threads', 'Worker threads running (RECEIVER_WORKERS; started on first use, 0 when events are mapped in the main thread).', (s) => s.workers.running)
    counter('worker_restarts_total', 'Worker threads that died or failed to start while mapping a batch (PSR_ERR_WORKER); the window was read again.', (s) => s.workers.restarts)
    counter('gap_seconds_total', 'Seconds of events skipped because the cursor was older than the SIEM API serves (7 days); kept across restarts.', (s) => s.gapSeconds)
    counter(
      'attributes_dropped_total',
      'Log record attributes dropped over OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT, in the records the collector acknowledged (the body keeps the whole event).',
      (s) => s.totals.droppedAttributes,
    )
    counter(
      'export_splits_total',
      'OTLP requests split in halves because the collector found them too large (413, or gRPC RESOURCE_EXHAUSTED over its size limit); later requests are planned smaller.',
      (s) => s.totals.exportSplits,
    )

    // The sweeps, one series per stage (label: its age, `10m`, `35m`): how much the API indexes late, and whether
    // the stages keep up (lag between age and age + span; more is behind).
    const perSweep = (value: (v: SweepView) => number | null): ((m: Gauge<'sweep_age'> | Counter<'sweep_age'>) => void) => (m) => {
      m.reset()
      for (const v of snap().sweeps) {
        const x = value(v)
        if (x !== null) m.inc({ sweep_age: v.age }, x)
      }
    }
    const lateEvents: Counter<'sweep_age'> = new Counter({
      name: `${METRIC_PREFIX}late_events_total`,
      help: 'Events a late-event sweep found that no earlier request had returned (indexed late by the SIEM API), by sweep age.',
      labelNames: ['sweep_age'],
      registers,
      collect: () => perSweep((v) => v.lateEvents)(lateEvents),
    })
    const sweepLag: Gauge<'sweep_age'> = new Gauge({
      name: `${METRIC_PREFIX}sweep_lag_seconds`,
      help: 'Seconds between now and the instant a sweep stage has read through: between its age and age + span when it keeps up.',
      labelNames: ['sweep_age'],
      registers,
      collect: () => perSweep((v) => v.lagSeconds)(sweepLag),
    })
    const sweepNext: Gauge<'sweep_age'> = new Gauge({
      name: `${METRIC_PREFIX}sweep_next_timestamp_seconds`,
      help: "Unix time a sweep stage's next span is ripe (through + span + age); in the past when the stage is behind.",
      labelNames: ['sweep_age'],
      registers,
      collect: () => perSweep((v) => (v.nextAt === null ? null : Date.parse(v.nextAt) / 1000))(sweepNext),
    })

    const info: Gauge<'version'> = new Gauge({
      name: `${METRIC_PREFIX}info`,
      help: 'Always 1; the version label says which receiver is running.',
      labelNames: ['version'],
      registers,
    })
    info.set({ version: this.status.version }, 1)

    // No prefix: process_* and nodejs_* are the names every Node.js dashboard and alert expects.
    if (opts.collectProcessMetrics ?? true) collectDefaultMetrics({ register: this.registry })
  }

  /** The Content-Type of {@link render}'s text (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType
  }

  /** The exposition text for one scrape, every status-derived value taken from one snapshot. */
  async render(): Promise<string> {
    this.scrape = this.status.snapshot(this.now())
    try {
      return await this.registry.metrics()
    } finally {
      this.scrape = undefined
    }
  }

  /**
   * One SIEM API request finished. `statusCode`: the HTTP status of the answer, undefined when none came (network
   * error, timeout); anything that is not an HTTP status is counted as `none`. `seconds`: its duration. `bytes`:
   * the response body bytes read, when known.
   */
  observeApiRequest(outcome: ApiOutcome, statusCode: number | undefined, seconds: number, bytes?: number): void {
    this.apiRequests.inc({ outcome, status_code: statusLabel(statusCode) })
    observe(this.apiDuration, outcome, seconds)
    addBytes(this.apiBytes, bytes)
  }

  /**
   * One export call finished: `requests` is how many OTLP requests it sent that were answered `outcome` (0 is fine),
   * `seconds` the duration of the whole call, observed once under the call's outcome (`ok` or `error`). A call's
   * requests with other answers (some acknowledged, some rejected, retried or split) are reported once per outcome
   * with `seconds` undefined, so the call is timed once. `bytes`: the request body bytes sent in the acknowledged
   * requests, when the exporter says.
   */
  observeExport(outcome: ExportOutcome, requests: number, seconds?: number, bytes?: number): void {
    if (Number.isFinite(requests) && requests > 0) this.exportRequests.inc({ outcome }, requests)
    if (seconds !== undefined) observe(this.exportDuration, outcome, seconds)
    addBytes(this.exportBytes, bytes)
  }
}

/** A byte count that is not a non-negative finite number (unknown, or a bug upstream) is not counted at all. */
function addBytes(counter: Counter, bytes: number | undefined): void {
  if (bytes !== undefined && Number.isFinite(bytes) && bytes > 0) counter.inc(bytes)
}

function statusLabel(code: number | undefined): string {
  return code !== undefined && Number.isInteger(code) && code >= 100 && code <= 599 ? String(code) : 'none'
}

function observe(h: Histogram<'outcome'>, outcome: string, seconds: number): void {
  // A clock stepping backwards must not make a negative duration; NaN or infinity is not a duration at all.
  if (!Number.isFinite(seconds)) return
  h.observe({ outcome }, Math.max(0, seconds))
}

function isoSeconds(iso: string | null): number {
  return iso === null ? 0 : Date.parse(iso) / 1000
}

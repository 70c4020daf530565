/** What the poller tells /status and /metrics about each SIEM API request and each export call, and progress for liveness. */
import { ExportError, SiemApiError, SiemAuthError, errorInfo } from '../errors.js'
import { EXPORT_REQUEST_OUTCOMES } from '../export/report.js'
import type { ExportRequestOutcome } from '../export/report.js'
import type { ExportRecord } from '../mapping/types.js'
import type { WindowSummary } from '../siem/client.js'
import type { ReceiverStatus } from '../status/index.js'
import type { ExportOutcome, PollerMetrics, RecordSink } from './types.js'

export class PollReporter {
  constructor(
    private readonly status: ReceiverStatus,
    private readonly metrics: PollerMetrics | undefined,
    private readonly clock: () => number,
    private readonly monotonic: () => number,
  ) {}

  requestFailed(err: unknown, started: number): void {
    const { status } = this
    const httpStatus = err instanceof SiemApiError ? err.status : undefined
    // The API answered (a 400, a 401, a 5xx, a 2xx whose body was cut or is not JSON): the loop is working, the API is
    // not. No answer is no progress.
    if (httpStatus !== undefined) status.progress(this.monotonic(), this.clock())
    const seconds = err instanceof SiemApiError && err.seconds !== undefined ? err.seconds : (performance.now() - started) / 1000
    this.metrics?.observeApiRequest('error', httpStatus, seconds)
    status.recordPoll({
      at: this.clock(),
      outcome: 'error',
      ...(httpStatus === undefined ? {} : { httpStatus }),
      events: 0,
      error: errorInfo(err),
    })
    status.setAuthFailing(err instanceof SiemAuthError)
  }

  /** The API answered 2xx and its first events came (the body may still fail, and is read as fast as exports go). */
  firstEvents(): void {
    this.status.recordApiAnswer(this.clock())
    this.status.setAuthFailing(false)
  }

  requestAnswered(summary: WindowSummary, started: number): void {
    const { status } = this
    status.progress(this.monotonic(), this.clock())
    // The client's measure leaves out the time the loop held the body (exporting): that is the collector's, not the API's.
    this.metrics?.observeApiRequest('ok', summary.status, summary.seconds ?? (performance.now() - started) / 1000, summary.bytes)
    status.recordPoll({ at: this.clock(), outcome: 'ok', httpStatus: summary.status, events: summary.events })
    status.setAuthFailing(false)
  }

  async exported(sink: RecordSink, records: ExportRecord[]): Promise<ExportOutcome> {
    const { status } = this
    const started = performance.now()
    try {
      const outcome = (await sink.exportRecords(records)) ?? {}
      status.progress(this.monotonic(), this.clock())
      status.recordExport({ at: this.clock(), outcome: 'ok', records: records.length, droppedAttributes: outcome.droppedAttributes, splits: outcome.splits })
      this.observeCall('ok', outcome.requests ?? { ok: outcome.batches ?? 1 }, started, outcome.bytes)
      return outcome
    } catch (err) {
      // A sink that does not say what it sent (not the pipeline's error) sent one request.
      const sent = err instanceof ExportError ? err.sent : undefined
      this.observeCall('error', sent?.requests ?? { error: 1 }, started, sent?.bytes)
      status.recordExport({
        at: this.clock(),
        outcome: 'error',
        records: records.length,
        error: { ...errorInfo(err), retryable: err instanceof ExportError ? err.retryable : true },
      })
      throw err
    }
  }

  /** One export call: timed once, under its own outcome; each of its requests counted under its answer's. */
  private observeCall(call: 'ok' | 'error', requests: Partial<Record<ExportRequestOutcome, number>>, started: number, bytes: number | undefined): void {
    this.metrics?.observeExport(call, requests[call] ?? 0, (performance.now() - started) / 1000, bytes)
    for (const outcome of EXPORT_REQUEST_OUTCOMES) if (outcome !== call) this.metrics?.observeExport(outcome, requests[outcome] ?? 0)
  }
}

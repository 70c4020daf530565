/** What the poller tells /status and /metrics about each SIEM API request and each export call, and progress for liveness. */
import { ExportError, SiemApiError, SiemAuthError, errorInfo } from '../errors.js'
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
    this.metrics?.observeApiRequest('error', httpStatus, (performance.now() - started) / 1000)
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
    this.metrics?.observeApiRequest('ok', summary.status, (performance.now() - started) / 1000, summary.bytes)
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
      this.metrics?.observeExport('ok', outcome.batches ?? 1, (performance.now() - started) / 1000, outcome.bytes)
      if (outcome.rejectedBatches) this.metrics?.observeExport('rejected', outcome.rejectedBatches)
      return outcome
    } catch (err) {
      this.metrics?.observeExport('error', 1, (performance.now() - started) / 1000)
      status.recordExport({
        at: this.clock(),
        outcome: 'error',
        records: records.length,
        error: { ...errorInfo(err), retryable: err instanceof ExportError ? err.retryable : true },
      })
      throw err
    }
  }
}

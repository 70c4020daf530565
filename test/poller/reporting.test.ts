/** What the poller's reporter tells /metrics about each SIEM API request: whose time its duration is. */
import t from 'tap'
import { SiemBadResponseError, SiemNetworkError } from '../../src/errors.js'
import { PollReporter } from '../../src/poller/reporting.js'
import type { PollerMetrics } from '../../src/poller/types.js'
import { ReceiverStatus } from '../../src/status/index.js'

const T0 = Date.parse('2026-11-24T12:00:00Z')

function reporter(): { reporter: PollReporter; seconds: number[] } {
  const status = new ReceiverStatus({ startedAt: T0, noEventsAlertAfterMs: 3_600_000, pollIntervalMs: 60_000, eventTypes: ['messagesDelivered'], version: 'test' })
  const seconds: number[] = []
  const metrics: PollerMetrics = { observeApiRequest: (_outcome, _code, s) => seconds.push(s), observeExport: () => undefined }
  return { reporter: new PollReporter(status, metrics, () => T0, () => 0), seconds }
}

t.test("api_request_duration_seconds: the SIEM client's measure (the API's time), else since the request started", (t) => {
  const { reporter: r, seconds } = reporter()
  // The request went out a minute ago; the loop held its body (exporting) for most of it.
  const started = performance.now() - 60_000
  r.requestAnswered({ status: 200, bytes: 10, events: 1, seconds: 0.25 }, started)
  const cut = new SiemBadResponseError('truncated JSON', 200)
  cut.seconds = 0.5
  r.requestFailed(cut, started)
  r.requestFailed(new SiemNetworkError('ECONNREFUSED'), started)
  r.requestAnswered({ status: 204, bytes: 0, events: 0 }, started)
  t.same(seconds.slice(0, 2), [0.25, 0.5], "the client's measure, answered or failed: the collector's time left out")
  t.ok(seconds.slice(2).every((s) => s >= 60), 'without one (no answer came, or a source that does not measure): since the start')
  t.end()
})

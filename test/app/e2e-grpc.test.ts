/**
 * OTLP/gRPC end to end, in process (issue 12: "a receiver behind a loopback CONNECT proxy exports to a gRPC collector
 * with nothing lost"): the simulator as the SIEM API and a grpc-js collector, both reached through a forward proxy
 * (HTTP_PROXY: absolute-form requests to the API, a CONNECT tunnel to the collector), the real receiver and state
 * file; the collector fails in the ways gRPC collectors fail, the receiver restarts, and every event arrives once.
 */
import { status as grpcStatus } from '@grpc/grpc-js'
import t from 'tap'
import { H, MIN, T0, assertExactlyOnce, expectedUids, readState, rig } from '../helpers/e2e-rig.js'
import { startForwardProxy } from '../helpers/forward-proxy.js'
import { startGrpcSink } from '../helpers/otlp-grpc-sink.js'

const PROXY_PASSWORD = 'pr0xy-PASSWORD-must-not-leak'
const TOKEN = 'grpc-TOKEN-must-not-leak'

t.test('behind a CONNECT proxy, to a gRPC collector: every event once, through failures and a restart', async (t) => {
  const proxy = await startForwardProxy(t, PROXY_PASSWORD)
  const collector = await startGrpcSink()
  t.teardown(() => collector.close())
  // The rig's OTLP/HTTP sink stays unused: the receiver is pointed at the gRPC collector.
  const r = await rig(t, 'http/protobuf', {
    OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${TOKEN}`,
    HTTP_PROXY: proxy.url,
  })
  const app1 = await r.startApp()
  await r.time.idle()
  t.equal(readState(r.stateDir).cursor, '2026-11-24T12:00:00.000Z', 'the first window acknowledged')
  t.ok(collector.records.length > 100, `the first hour arrived over gRPC (${collector.records.length} records)`)
  t.equal(r.sink.records.length, 0, 'nothing over OTLP/HTTP')
  t.ok(proxy.seen.includes(`CONNECT 127.0.0.1:${collector.port}`), 'the collector link is a tunnel through the proxy')
  t.ok(proxy.seen.includes(`CONNECT ${new URL(r.sim.url).host}`), 'the API requests went through the proxy too')
  t.equal(collector.requests[0]?.metadata.authorization, `Bearer ${TOKEN}`)

  // The collector throttles (RetryInfo 30 s), then is unavailable beyond the exporter's own retries, then recovers.
  collector.answerNext(
    { code: grpcStatus.RESOURCE_EXHAUSTED, details: 'rate limited', retryDelayMs: 30_000 },
    ...Array.from({ length: 6 }, () => ({ code: grpcStatus.UNAVAILABLE, details: 'backend down' })),
  )
  r.time.advanceTo(T0 + 10 * MIN)
  await r.time.idle()
  t.equal(readState(r.stateDir).cursor, '2026-11-24T12:10:00.000Z', 'caught up once the collector took the records')
  t.ok(collector.requests.some((q) => q.code === Number(grpcStatus.RESOURCE_EXHAUSTED)))
  t.ok(r.logs.some((l) => l.includes('RESOURCE_EXHAUSTED')), 'the throttling is logged')
  await app1.shutdown()

  // Down for 2 hours; a new process catches up through the proxy.
  r.time.jumpTo(T0 + 2 * H + 10 * MIN)
  const app2 = await r.startApp()
  await r.time.idle()
  const end = Date.parse(readState(r.stateDir).cursor)
  t.equal(new Date(end).toISOString(), '2026-11-24T14:10:00.000Z')
  assertExactlyOnce(t, collector, expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), end))
  t.equal(app2.status.snapshot(r.time.clock()).totals.rejected, 0, 'nothing rejected')
  const logs = r.logs.join('\n')
  t.notMatch(logs, TOKEN, 'the header value is never logged')
  t.notMatch(logs, PROXY_PASSWORD, 'the proxy password is never logged')
})

t.test('a collector that takes every record with a warning (partial success, none rejected): logged once an hour, not per request', async (t) => {
  const collector = await startGrpcSink()
  t.teardown(() => collector.close())
  const r = await rig(t, 'http/protobuf', { OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, RECEIVER_EXPORT_BATCH_SIZE: '20' })
  const warning = { code: grpcStatus.OK, partial: { rejected: 0, message: 'attribute proofpoint.GUID is deprecated' } }
  collector.answerNext(...Array.from({ length: 200 }, () => warning))
  const app = await r.startApp()
  await r.time.idle()
  t.ok(collector.requests.length > 5, `${collector.requests.length} requests, each with the warning`)
  const lines = r.logs.filter((l) => l.includes('attribute proofpoint.GUID is deprecated'))
  t.equal(lines.length, 1, 'logged once')
  t.match(lines[0], /the collector took the records with a warning/)
  t.equal(app.status.snapshot(r.time.clock()).totals.rejected, 0, 'nothing rejected')
})

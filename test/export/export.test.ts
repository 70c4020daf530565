import { readFileSync } from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { ExportResultCode } from '@opentelemetry/core'
import { InMemoryLogRecordExporter } from '@opentelemetry/sdk-logs'
import type { LogRecordExporter } from '@opentelemetry/sdk-logs'
import { OTLPLogExporter as SdkProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto'
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer'
import { DEFAULT_EXPORT_CONCURRENCY } from '../../src/config/defaults.js'
import { ExportError } from '../../src/errors.js'
import { parseRetryAfter } from '../../src/http-util.js'
import { cutBatches } from '../../src/export/batches.js'
import { protobufCodec } from '../../src/export/codecs.js'
import { classifyFailure, failureStatus, OtlpExportFailure } from '../../src/export/failure.js'
import { rejectionReason, toExportError } from '../../src/export/failure-message.js'
import { createExportPipeline } from '../../src/export/pipeline.js'
import type { ExportPipelineOptions } from '../../src/export/pipeline.js'
import { OtlpProtoLogsEncoder } from '../../src/export/otlp-proto-encoder.js'
import { PROCESS_INSTANCE_ID, SCOPE_NAME } from '../../src/export/resource.js'
import { SdkRecordFactory } from '../../src/export/sdk-records.js'
import { estimateRecordBytes, estimateRequestOverheadBytes } from '../../src/export/size.js'
import type { MappedRecord } from '../../src/mapping/types.js'
import { BASE_SECONDS, record } from '../helpers/records.js'
import { startOtlpSink } from '../helpers/otlp-sink.js'
import type { OtlpSink } from '../helpers/otlp-sink.js'

const PROTOCOLS = ['http/protobuf', 'http/json'] as const
const SECRET = 'sekrit-api-key-value'

function nanos(hr: [number, number]): bigint {
  return BigInt(hr[0]) * 1_000_000_000n + BigInt(hr[1])
}

function pipelineOpts(sink: OtlpSink, over: Partial<ExportPipelineOptions> = {}): ExportPipelineOptions {
  return {
    endpoint: sink.logsUrl,
    protocol: 'http/protobuf',
    headers: { 'x-api-key': SECRET },
    compression: 'none',
    timeoutMs: 5000,
    serviceName: 'psr-test',
    serviceVersion: '9.8.7',
    resourceAttributes: { 'deployment.environment.name': 'test', 'k8s.namespace.name': 'security' },
    ...over,
  }
}

async function setup(t: Test, over: Partial<ExportPipelineOptions> = {}, sinkOpts: Parameters<typeof startOtlpSink>[0] = {}) {
  const sink = await startOtlpSink(sinkOpts)
  const pipeline = createExportPipeline(pipelineOpts(sink, over))
  t.teardown(async () => {
    await pipeline.shutdown()
    await sink.close()
  })
  return { sink, pipeline }
}

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as net.AddressInfo
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

for (const protocol of PROTOCOLS) {
  t.test(`${protocol}: every record arrives once, exactly as mapped`, async (t) => {
    const { sink, pipeline } = await setup(t, { protocol })
    const records = [record(1), record(2), record(3, { timestamp: undefined }), record(4, { body: undefined, severityNumber: 9, severityText: 'INFO' })]
    const report = await pipeline.exportRecords(records)

    t.equal(sink.requests.length, 1)
    const req = sink.requests[0]!
    t.equal(req.contentType, protocol === 'http/json' ? 'application/json' : 'application/x-protobuf')
    t.ok(req.contentLength !== undefined && req.contentLength > 0, 'Content-Length sent')
    t.equal(req.contentLength, req.wireBytes)
    t.equal(req.transferEncoding, undefined, 'not chunked (Fluent Bit rejects chunked)')
    t.equal(req.headers['x-api-key'], SECRET, 'custom header arrives')
    t.match(req.headers['user-agent'], /^proofpoint-siem-receiver\/9\.8\.7/)
    t.same(report, {
      records: 4,
      batches: 1,
      requests: { ok: 1, rejected: 0, too_large: 0, error: 0 },
      bytes: req.wireBytes,
      droppedAttributes: 0,
      rejectedRecords: 0,
      rejectionMessages: [],
      rejected: [],
      rejectedBatches: 0,
      partialRejections: [],
      splits: 0,
      warnings: [],
    })

    t.equal(sink.records.length, 4)
    for (const [i, got] of sink.records.entries()) {
      const want = records[i]!
      t.equal(got.attributes['log.record.uid'], want.uid, 'order kept')
      t.equal(got.timeUnixNano, want.timestamp ? nanos(want.timestamp) : undefined, 'timestamp to the nanosecond')
      t.equal(got.observedTimeUnixNano, nanos(want.observedTimestamp))
      t.equal(got.severityNumber, want.severityNumber)
      t.equal(got.severityText, want.severityText)
      t.equal(got.eventName, 'proofpoint.message.delivered', 'LogRecord.event_name (field 12)')
      if (want.body === undefined && protocol === 'http/json') {
        // The SDK's JSON serializer always writes a body; without one it is an empty AnyValue ("body":{}).
        t.equal(got.bodyKind, 'empty')
        t.equal(got.body, null)
      } else {
        t.equal(got.body, want.body)
        t.equal(got.bodyKind, want.body === undefined ? undefined : 'string')
      }
      t.same(got.attributes, want.attributes)
      t.same(got.attributeKinds, {
        'proofpoint.event_type': 'string',
        'log.record.uid': 'string',
        'proofpoint.spamScore': 'int',
        'proofpoint.phishScore': 'int',
        'proofpoint.ratio': 'double',
        'proofpoint.completelyRewritten': 'bool',
        'proofpoint.toAddresses': 'array',
        'proofpoint.messageParts.sha256': 'array',
        'proofpoint.subject': 'string',
      })
      t.same(got.scope, { name: SCOPE_NAME, version: '9.8.7' })
      t.equal(got.droppedAttributesCount, 0)
    }
    const resource = sink.records[0]!.resource
    t.equal(resource['service.name'], 'psr-test')
    t.equal(resource['service.version'], '9.8.7')
    t.equal(resource['service.instance.id'], PROCESS_INSTANCE_ID)
    t.match(PROCESS_INSTANCE_ID, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    t.equal(resource['deployment.environment.name'], 'test')
    t.equal(resource['k8s.namespace.name'], 'security')
    t.equal(resource['telemetry.sdk.language'], 'nodejs')
  })

  t.test(`${protocol}: batches by estimated size stay under maxBatchBytes on the wire`, async (t) => {
    const maxBatchBytes = 32 * 1024
    const { sink, pipeline } = await setup(t, { protocol, maxBatchBytes })
    // Bodies full of characters JSON escapes (quotes, backslashes, control characters) and multi-byte UTF-8.
    const text = 'say "hi" \\ tab\t nl\n ctl\u0001 é ✓ 💥 '.repeat(40)
    const records = Array.from({ length: 200 }, (_, i) =>
      record(i, {
        body: JSON.stringify({ i, text }),
        attributes: { ...record(i).attributes, 'proofpoint.modulesRun': ['spf', 'dkim', 'dmarc', text.slice(0, 100)], 'proofpoint.nested': { a: 1, b: [true, 'x'] } },
      }),
    )
    const report = await pipeline.exportRecords(records)
    t.equal(sink.records.length, 200)
    t.same(
      sink.records.map((r) => r.attributes['log.record.uid']),
      records.map((r) => r.uid),
      'each once, in order',
    )
    t.ok(sink.requests.length > 1, `split into ${sink.requests.length} requests`)
    t.equal(report.batches, sink.requests.length)
    const total = sink.requests.reduce((n, r) => n + r.wireBytes, 0)
    t.equal(report.bytes, total)
    for (const r of sink.requests) t.ok(r.contentLength! <= maxBatchBytes, `request of ${r.contentLength} bytes ≤ ${maxBatchBytes}`)
    // The estimate is conservative, not wasteful: batches are at least half full on average.
    t.ok(sink.requests.length <= Math.ceil((2 * total) / maxBatchBytes) + 1, `not too many requests (${sink.requests.length} for ${total} bytes)`)
    t.same(sink.records[0]!.attributes['proofpoint.nested'], { a: 1, b: [true, 'x'] })
    t.equal(sink.records[0]!.attributeKinds['proofpoint.nested'], 'kvlist')
  })
}

t.test('batches by count, one request at a time', async (t) => {
  const { sink, pipeline } = await setup(t, { maxBatchSize: 10 })
  const records = Array.from({ length: 25 }, (_, i) => record(i))
  const report = await pipeline.exportRecords(records)
  t.same(
    sink.requests.map((r) => r.records),
    [10, 10, 5],
  )
  t.equal(report.batches, 3)
  t.equal(report.records, 25)
  t.same(
    sink.records.map((r) => r.attributes['log.record.uid']),
    records.map((r) => r.uid),
  )
})

t.test('a record larger than maxBatchBytes goes alone', async (t) => {
  const { sink, pipeline } = await setup(t, { maxBatchBytes: 4000 })
  const big = record(2, { body: 'x'.repeat(10_000) })
  await pipeline.exportRecords([record(1), big, record(3), record(4)])
  t.equal(sink.records.length, 4)
  const bigRequest = sink.requests[sink.records[1]!.request]!
  t.equal(bigRequest.records, 1, 'the big record is alone in its request')
  t.ok(bigRequest.contentLength! > 4000)
})

t.test('gzip: compressed on the wire, with Content-Length', async (t) => {
  const { sink, pipeline } = await setup(t, { compression: 'gzip' })
  const report = await pipeline.exportRecords(Array.from({ length: 50 }, (_, i) => record(i)))
  t.equal(sink.records.length, 50)
  const req = sink.requests[0]!
  t.equal(req.contentEncoding, 'gzip')
  t.equal(req.contentLength, req.wireBytes)
  t.equal(req.transferEncoding, undefined)
  t.ok(req.wireBytes < req.bodyBytes / 2, `compressed ${req.bodyBytes} → ${req.wireBytes}`)
  t.equal(report.bytes, req.wireBytes)
})

t.test('201 (Fluent Bit) counts as success', async (t) => {
  const { sink, pipeline } = await setup(t)
  sink.respondWith(201)
  const report = await pipeline.exportRecords([record(1)])
  t.equal(report.records, 1)
  t.equal(sink.requests[0]!.status, 201)
})

t.test('works against a sink that rejects chunked requests like Fluent Bit', async (t) => {
  const { sink, pipeline } = await setup(t, {}, { rejectChunked: true })
  await pipeline.exportRecords([record(1)])
  t.equal(sink.records.length, 1)
})

t.test('400 for every record: reported rejected with the reason, not thrown, each half tried once; no header values in the reason', async (t) => {
  const { sink, pipeline } = await setup(t)
  sink.failNext(3, 400, {}, 'invalid nested map value')
  const report = await pipeline.exportRecords([record(1), record(2)])
  t.equal(report.records, 0)
  t.equal(report.batches, 0)
  t.equal(report.rejectedBatches, 2, 'both halves refused too: the collector refuses them all')
  t.equal(report.rejectedRecords, 2)
  t.same(
    report.rejected.map((r) => [r.index, r.status]),
    [
      [0, 400],
      [1, 400],
    ],
  )
  const reason = report.rejected[0]!.reason
  t.match(reason, /collector at http:\/\/127\.0\.0\.1:\d+\/v1\/logs rejected 1 record \(400\): "invalid nested map value"/)
  t.match(reason, /OTEL_EXPORTER_OTLP_LOGS_PROTOCOL/, 'says what to check')
  t.notMatch(reason, SECRET)
  t.same(report.rejectionMessages, [reason, report.rejected[1]!.reason])
  t.equal(sink.requests.length, 3, 'the request, then each half once; no retry of any')
  t.equal(sink.records.length, 0)
})

t.test('400 for one poison record among 8: narrowed down by halves, the 7 others delivered, that one rejected', async (t) => {
  const { sink, pipeline } = await setup(t)
  const records = Array.from({ length: 8 }, (_, i) => record(i))
  // [0..8) refused; [0..4) refused, [4..8) taken; [0..2) taken, [2..4) refused; [2] taken, [3] refused.
  sink.failNext(2, 400, {}, 'ReadInt64: overflow')
  sink.acceptNext(2)
  sink.failNext(1, 400, {}, 'ReadInt64: overflow')
  sink.acceptNext(1)
  sink.failNext(1, 400, {}, 'ReadInt64: overflow')
  const report = await pipeline.exportRecords(records)
  t.same(sink.requests.map((r) => r.status), [400, 400, 200, 200, 400, 200, 400])
  t.same(report.rejected.map((r) => r.index), [3], 'only the poison record')
  t.equal(report.records, 7)
  t.same(report.requests, { ok: 3, rejected: 4, too_large: 0, error: 0 }, 'every request counted by its answer, the refused ones that were halved too')
  t.same(sink.records.map((r) => r.attributes['log.record.uid']).sort(), records.filter((_, i) => i !== 3).map((r) => r.uid).sort(), 'the others, once each')
})

t.test('400 on batch 2 of 3: batches 1 and 3 are delivered, batch 2 reported rejected with the reason', async (t) => {
  const { sink, pipeline } = await setup(t, { maxBatchSize: 3 })
  const records = Array.from({ length: 8 }, (_, i) =>
    i % 2 === 0 ? record(i) : record(i, { eventType: 'clicksPermitted', eventName: 'proofpoint.click.permitted' }),
  )
  sink.acceptNext(1)
  // Batch 2, then each of its halves (the collector refuses them all).
  sink.failNext(3, 400, {}, 'bad record in there')
  const report = await pipeline.exportRecords(records)
  t.same(
    sink.requests.map((r) => r.status),
    [200, 400, 400, 400, 200],
    'batch 2 and its halves refused, none retried',
  )
  t.same(
    sink.records.map((r) => r.attributes['log.record.uid']),
    [...records.slice(0, 3), ...records.slice(6)].map((r) => r.uid),
    'batches 1 and 3 delivered, each record once',
  )
  t.equal(report.records, 5)
  t.equal(report.batches, 2)
  t.equal(report.rejectedRecords, 3)
  t.same(
    report.rejected.map((r) => r.index),
    [3, 4, 5],
    'indexes into the input',
  )
  t.ok(report.rejected.every((r) => r.status === 400 && /rejected [12] records? \(400\): "bad record in there"/.test(r.reason)))
  t.equal(report.records + report.rejected.length, records.length, 'every record accounted for')
  // What the caller does with it: count rejections per event type.
  const perType: Record<string, number> = {}
  for (const r of report.rejected) perType[records[r.index]!.eventType] = (perType[records[r.index]!.eventType] ?? 0) + 1
  t.same(perType, { clicksPermitted: 2, messagesDelivered: 1 })
  t.equal(report.rejectionMessages.length, 2)
})

t.test('other data rejections (422) are reported rejected; a 400 does not hide a later transient failure', async (t) => {
  const { sink, pipeline } = await setup(t, { maxBatchSize: 1, timeoutMs: 600 })
  sink.failNext(1, 422, {}, 'unprocessable')
  const report = await pipeline.exportRecords([record(1), record(2)])
  t.same(
    report.rejected.map((r) => [r.index, r.status]),
    [[0, 422]],
  )
  t.equal(report.records, 1)

  sink.clear()
  sink.failNext(1, 400)
  sink.failNext(100, 503)
  const err = await pipeline.exportRecords([record(1), record(2)]).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(err instanceof ExportError && err.retryable, 'the 503 on batch 2 is thrown: the caller sends the set again')
  t.match((err as Error).message, /batch 2 of 2/)
})

t.test('401, 403, 404, 415 on a later batch: thrown (not retryable), the records are not counted as rejected', async (t) => {
  for (const status of [401, 403, 404, 415]) {
    const { sink, pipeline } = await setup(t, { maxBatchSize: 1 })
    sink.acceptNext(1)
    sink.failNext(1, status)
    await t.rejects(pipeline.exportRecords([record(1), record(2), record(3)]), { code: 'PSR_ERR_EXPORT_MISCONFIGURED', retryable: false, status, message: /batch 2 of 3/ }, String(status))
    t.equal(sink.requests.length, 2, `${status}: stops at the failing batch`)
  }
})

t.test('401 and 404 say where to look', async (t) => {
  const { sink, pipeline } = await setup(t)
  sink.failNext(1, 401)
  await t.rejects(pipeline.exportRecords([record(1)]), { retryable: false, status: 401, message: /OTEL_EXPORTER_OTLP_HEADERS/ })
  sink.failNext(1, 404)
  await t.rejects(pipeline.exportRecords([record(1)]), { retryable: false, status: 404, message: /OTEL_EXPORTER_OTLP_ENDPOINT/ })
})

t.test('503 persistent: retryable ExportError after the exporter retried within timeoutMs', async (t) => {
  // 2500 ms: the first retry waits up to 1.2 s (1 s ± 20 %) and needs a quarter of the timeout left to be sent.
  const { sink, pipeline } = await setup(t, { timeoutMs: 2500 })
  sink.failNext(100, 503)
  const started = Date.now()
  const err = await pipeline.exportRecords([record(1)]).then(
    () => undefined,
    (e: unknown) => e,
  )
  const elapsed = Date.now() - started
  t.ok(err instanceof ExportError)
  const e = err as ExportError
  t.equal(e.code, 'PSR_ERR_EXPORT_FAILED')
  t.equal(e.retryable, true)
  t.equal(e.status, 503)
  t.match(e.message, /answered 503.* after \d+ attempts/)
  t.notMatch(e.message, SECRET)
  t.ok(sink.requests.length >= 2, `retried (${sink.requests.length} attempts)`)
  t.ok(elapsed < 2500 + 500, `gave up within the timeout (${elapsed} ms)`)
})

t.test('503 once, then accepted: the exporter retries by itself', async (t) => {
  const { sink, pipeline } = await setup(t)
  sink.failNext(1, 503)
  const report = await pipeline.exportRecords([record(1), record(2)])
  t.equal(report.records, 2)
  t.equal(sink.requests.length, 2)
  t.equal(sink.records.length, 2, 'the refused attempt left no records')
  t.same(report.requests, { ok: 1, rejected: 0, too_large: 0, error: 1 }, "the exporter's own retry is a request too")
})

t.test('429 with Retry-After is honoured', async (t) => {
  const { sink, pipeline } = await setup(t)
  sink.failNext(1, 429, { 'retry-after': '1' })
  const started = Date.now()
  await pipeline.exportRecords([record(1)])
  t.ok(Date.now() - started >= 950, 'waited for Retry-After')
  t.equal(sink.records.length, 1)
})

t.test('429 with a Retry-After beyond the timeout: retryable, says so', async (t) => {
  const { sink, pipeline } = await setup(t, { timeoutMs: 1000 })
  sink.failNext(1, 429, { 'retry-after': '30' })
  await t.rejects(pipeline.exportRecords([record(1)]), {
    retryable: true,
    status: 429,
    retryAfterMs: 30_000,
    message: /throttling exports \(429, asked to retry after 30 s\)/,
  })
  t.equal(sink.requests.length, 1)
})

t.test('no retry is sent too close to the deadline to be answered (it would come back as a duplicate)', async (t) => {
  // Retry-After 1 s with a 1.2 s timeout: a retry would have ~200 ms, under the quarter of the timeout it needs.
  const { sink, pipeline } = await setup(t, { timeoutMs: 1200 })
  sink.failNext(1, 503, { 'retry-after': '1' })
  await t.rejects(pipeline.exportRecords([record(1)]), { retryable: true, status: 503, message: /answered 503/ })
  t.equal(sink.requests.length, 1, 'no second request')
  // With room for an answer the retry goes out.
  const roomy = await setup(t, { timeoutMs: 2500 })
  roomy.sink.failNext(1, 503, { 'retry-after': '1' })
  const report = await roomy.pipeline.exportRecords([record(2)])
  t.equal(report.records, 1)
  t.equal(roomy.sink.requests.length, 2)
})

t.test("Retry-After is surfaced on the ExportError (seconds or an HTTP date, 429 or 503) so the caller can honour it", async (t) => {
  const { sink, pipeline } = await setup(t, { timeoutMs: 800 })
  sink.failNext(1, 503, { 'retry-after': '20' })
  const e503 = await pipeline.exportRecords([record(1)]).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(e503 instanceof ExportError)
  t.match(e503, { retryable: true, status: 503, retryAfterMs: 20_000, message: /answered 503.*asked to retry after 20 s/ })

  sink.failNext(1, 429, { 'retry-after': new Date(Date.now() + 60_000).toUTCString() })
  const e429 = (await pipeline.exportRecords([record(1)]).then(
    () => undefined,
    (e: unknown) => e,
  )) as ExportError
  t.equal(e429.retryable, true)
  t.ok(e429.retryAfterMs !== undefined && e429.retryAfterMs > 55_000 && e429.retryAfterMs <= 60_000, `HTTP date: ${e429.retryAfterMs} ms`)

  sink.failNext(1, 500)
  const e500 = (await pipeline.exportRecords([record(1)]).then(
    () => undefined,
    (e: unknown) => e,
  )) as ExportError
  t.equal(e500.retryAfterMs, undefined, 'no Retry-After: undefined')
  t.equal(sink.records.length, 0)
})

for (const status of [429, 502, 503, 504]) {
  t.test(`${status} persistent without Retry-After: retryable ExportError within about the timeout`, async (t) => {
    // Room for the exporter's first retry (about 1 s, jittered ±20 %) whatever the jitter.
    const timeoutMs = 3000
    const { sink, pipeline } = await setup(t, { timeoutMs })
    sink.failNext(1000, status)
    const started = Date.now()
    const err = (await pipeline.exportRecords([record(1), record(2)]).then(
      () => undefined,
      (e: unknown) => e,
    )) as ExportError
    const elapsed = Date.now() - started
    t.ok(err instanceof ExportError)
    t.equal(err.code, 'PSR_ERR_EXPORT_FAILED')
    t.equal(err.retryable, true)
    t.equal(err.status, status)
    t.equal(err.retryAfterMs, undefined)
    t.ok(sink.requests.length >= 2, `the exporter retried within the timeout (${sink.requests.length} attempts)`)
    t.ok(elapsed < timeoutMs + 2000, `reported within about the timeout, not retried forever (${elapsed} ms)`)
    t.equal(sink.records.length, 0)
  })
}

t.test('connection refused: retryable ExportError that names the likely cause', async (t) => {
  const port = await closedPort()
  const pipeline = createExportPipeline({
    ...pipelineOpts({ logsUrl: `http://127.0.0.1:${port}/v1/logs` } as OtlpSink, { timeoutMs: 1500 }),
  })
  t.teardown(() => pipeline.shutdown())
  const err = await pipeline.exportRecords([record(1)]).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(err instanceof ExportError)
  const e = err as ExportError
  t.equal(e.retryable, true)
  t.equal(e.status, undefined)
  t.equal(e.code, 'PSR_ERR_EXPORT_FAILED')
  t.match(e.message, `collector at http://127.0.0.1:${port}/v1/logs refused the connection; is the OpenTelemetry Collector/Fluent Bit/Vector running and OTEL_EXPORTER_OTLP_ENDPOINT right?`)
})

t.test('the collector going away and coming back', async (t) => {
  const { sink, pipeline } = await setup(t, { timeoutMs: 800 })
  await sink.setMode('refuse')
  await t.rejects(pipeline.exportRecords([record(1)]), { retryable: true, message: /refused the connection/ })
  await sink.setMode('reset')
  await t.rejects(pipeline.exportRecords([record(1)]), { code: 'PSR_ERR_EXPORT_FAILED', retryable: true })
  await sink.setMode('ok')
  const report = await pipeline.exportRecords([record(1)])
  t.equal(report.records, 1)
  t.equal(sink.records.length, 1)
})

t.test('no answer within timeoutMs: retryable timeout', async (t) => {
  const { sink, pipeline } = await setup(t, { timeoutMs: 500 })
  await sink.setMode('hang')
  const started = Date.now()
  await t.rejects(pipeline.exportRecords([record(1)]), {
    retryable: true,
    code: 'PSR_ERR_EXPORT_FAILED',
    status: undefined,
    retryAfterMs: undefined,
    message: /did not acknowledge the export within 500 ms/,
  })
  const elapsed = Date.now() - started
  t.ok(elapsed >= 450 && elapsed < 1500, `after the timeout, not much later (${elapsed} ms)`)
})

t.test('a transient failure in the 2nd batch rejects the whole call; sending again duplicates batch 1 with the same uids', async (t) => {
  const { sink, pipeline } = await setup(t, { maxBatchSize: 2 })
  const records = [record(1), record(2), record(3), record(4)]
  sink.acceptNext(1)
  sink.failNext(1, 500)
  const err = await pipeline.exportRecords(records).catch((e: unknown) => e)
  t.match(err, { retryable: true, status: 500, message: /batch 2 of 2; the whole set will be sent again/ })
  t.equal(sink.records.length, 2, 'batch 1 had been acknowledged')
  t.same((err as ExportError).sent, { requests: { ok: 1, rejected: 0, too_large: 0, error: 1 }, bytes: sink.requests[0]!.wireBytes }, 'the error says what the call sent: batch 1 acknowledged, its bytes')
  await pipeline.exportRecords(records)
  t.same(
    sink.records.map((r) => r.attributes['log.record.uid']),
    [records[0]!.uid, records[1]!.uid, ...records.map((r) => r.uid)],
  )
})

t.test('calls are queued: at most maxConcurrency in flight (RECEIVER_EXPORT_CONCURRENCY by default), a call\'s batches one by one', async (t) => {
  const sink = await startOtlpSink()
  t.teardown(() => sink.close())
  for (const [limit, expected] of [[1, 1], [undefined, DEFAULT_EXPORT_CONCURRENCY]] as const) {
    let inFlight = 0
    let maxInFlight = 0
    const exporter: LogRecordExporter = {
      export(logs, cb) {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        setTimeout(() => {
          inFlight--
          cb({ code: ExportResultCode.SUCCESS })
        }, 5)
      },
      shutdown: () => Promise.resolve(),
      forceFlush: () => Promise.resolve(),
    }
    const queued = createExportPipeline({ ...pipelineOpts(sink), maxBatchSize: 2, exporter, ...(limit === undefined ? {} : { maxConcurrency: limit }) })
    t.equal(queued.maxConcurrency, expected)
    const calls = [[record(1), record(2), record(3)], [record(4)], [record(5)], [record(6)]]
    const reports = await Promise.all(calls.map((c) => queued.exportRecords(c)))
    t.equal(maxInFlight, expected, `at most ${expected} in flight`)
    t.same(
      reports.map((r) => [r.records, r.batches, r.bytes]),
      [
        [3, 2, undefined],
        [1, 1, undefined],
        [1, 1, undefined],
        [1, 1, undefined],
      ],
      'an injected exporter does not report bytes',
    )
    await queued.shutdown()
  }
  t.equal(sink.requests.length, 0)
})

t.test('shutdown abandons an export in flight, is idempotent, and refuses new exports', async (t) => {
  const { sink, pipeline } = await setup(t, { timeoutMs: 10_000 })
  await sink.setMode('hang')
  const started = Date.now()
  const pending = pipeline.exportRecords([record(1)])
  await new Promise((r) => setTimeout(r, 100))
  const s1 = pipeline.shutdown()
  const s2 = pipeline.shutdown()
  t.equal(s1, s2, 'same promise')
  await t.rejects(pending, { retryable: true, message: /shutting down/ })
  await s1
  t.ok(Date.now() - started < 2000, 'did not wait for the timeout')
  await t.rejects(pipeline.exportRecords([record(2)]), { code: 'PSR_ERR_EXPORT_SHUT_DOWN', retryable: false, message: /shut down/, sent: { requests: {} } })
})

t.test('nothing to send: no request', async (t) => {
  const { sink, pipeline } = await setup(t)
  t.same(await pipeline.exportRecords([]), {
    records: 0,
    batches: 0,
    requests: { ok: 0, rejected: 0, too_large: 0, error: 0 },
    bytes: 0,
    droppedAttributes: 0,
    rejectedRecords: 0,
    rejectionMessages: [],
    rejected: [],
    rejectedBatches: 0,
    partialRejections: [],
    splits: 0,
    warnings: [],
  })
  t.equal(sink.requests.length, 0)
})

t.test('SDK attribute limits apply and are reported', async (t) => {
  const { sink, pipeline } = await setup(t, { logRecordLimits: { attributeCountLimit: 3 } })
  const report = await pipeline.exportRecords([record(1)])
  t.equal(report.droppedAttributes, 6)
  t.equal(sink.records[0]!.droppedAttributesCount, 6)
  t.equal(Object.keys(sink.records[0]!.attributes).length, 3)
})

t.test('service.name is the resolved service name even if OTEL_RESOURCE_ATTRIBUTES has one; other resource attributes win', async (t) => {
  const { sink, pipeline } = await setup(t, {
    resourceAttributes: { 'service.name': 'from-attrs', 'service.instance.id': 'pod-7', 'service.version': 'pinned' },
  })
  await pipeline.exportRecords([record(1)])
  const resource = sink.records[0]!.resource
  t.equal(resource['service.name'], 'psr-test')
  t.equal(resource['service.instance.id'], 'pod-7')
  t.equal(resource['service.version'], 'pinned')
})

t.test('OTLP partial success is reported', async (t) => {
  const exporterResult = { code: ExportResultCode.SUCCESS, bytes: 10, partialSuccess: { rejectedLogRecords: 2, errorMessage: 'too old' } }
  const exporter: LogRecordExporter = {
    export: (_logs, cb) => cb(exporterResult),
    shutdown: () => Promise.resolve(),
    forceFlush: () => Promise.resolve(),
  }
  const sink = await startOtlpSink()
  t.teardown(() => sink.close())
  const pipeline = createExportPipeline({ ...pipelineOpts(sink), exporter })
  t.teardown(() => pipeline.shutdown())
  const report = await pipeline.exportRecords([record(1), record(2)])
  t.same(report, {
    records: 2,
    batches: 1,
    requests: { ok: 1, rejected: 0, too_large: 0, error: 0 },
    bytes: 10,
    droppedAttributes: 0,
    rejectedRecords: 2,
    rejectionMessages: ['too old'],
    rejected: [],
    rejectedBatches: 0,
    partialRejections: [{ start: 0, end: 2, rejected: 2, message: 'too old' }],
    splits: 0,
    warnings: [],
  })
})

t.test('OTLP partial success per request: counted against the request it answered (OTLP does not say which records)', async (t) => {
  const answers = [
    { code: ExportResultCode.SUCCESS },
    { code: ExportResultCode.SUCCESS, partialSuccess: { rejectedLogRecords: 1, errorMessage: 'timestamp too old' } },
    { code: ExportResultCode.SUCCESS, partialSuccess: { rejectedLogRecords: 0, errorMessage: 'just a warning' } },
  ]
  let call = 0
  const exporter: LogRecordExporter = {
    export: (_logs, cb) => cb(answers[call++ % answers.length]!),
    shutdown: () => Promise.resolve(),
    forceFlush: () => Promise.resolve(),
  }
  const sink = await startOtlpSink()
  t.teardown(() => sink.close())
  const pipeline = createExportPipeline({ ...pipelineOpts(sink), exporter, maxBatchSize: 2 })
  t.teardown(() => pipeline.shutdown())
  const report = await pipeline.exportRecords([record(1), record(2), record(3), record(4), record(5)])
  t.equal(report.records, 5)
  t.equal(report.rejectedRecords, 1)
  t.same(report.partialRejections, [{ start: 2, end: 4, rejected: 1, message: 'timestamp too old' }])
  t.same(report.rejected, [])
  t.same(report.rejectionMessages, ['timestamp too old', 'just a warning'])
})

t.test('partial success from a real answer', async (t) => {
  // A JSON collector answering {"partialSuccess":{...}} with 200.
  const http = await import('node:http')
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const body = JSON.stringify({ partialSuccess: { rejectedLogRecords: 1, errorMessage: 'bad record' } })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { port } = server.address() as net.AddressInfo
  const pipeline = createExportPipeline({ ...pipelineOpts({ logsUrl: `http://127.0.0.1:${port}/v1/logs` } as OtlpSink), protocol: 'http/json' })
  t.teardown(() => pipeline.shutdown())
  const report = await pipeline.exportRecords([record(1)])
  t.equal(report.rejectedRecords, 1)
  t.same(report.rejectionMessages, ['bad record'])
})

t.test('the SDK OTLPLogExporter 0.223 sends chunked requests (why we have our own); its errors still map', async (t) => {
  const sink = await startOtlpSink()
  t.teardown(() => sink.close())
  const sdkExporter = new SdkProtoExporter({ url: sink.logsUrl, timeoutMillis: 1500, compression: 'none' as never })
  const pipeline = createExportPipeline({ ...pipelineOpts(sink), exporter: sdkExporter })
  t.teardown(() => pipeline.shutdown())
  await pipeline.exportRecords([record(1)])
  t.equal(sink.records.length, 1)
  t.equal(sink.requests[0]!.transferEncoding, 'chunked', 'if this fails, the SDK started sending Content-Length: reconsider')
  t.equal(sink.requests[0]!.contentLength, undefined)

  sink.failNext(1, 400)
  const report = await pipeline.exportRecords([record(2)])
  t.same(
    report.rejected.map((r) => [r.index, r.status]),
    [[0, 400]],
    "the SDK's 400 is a rejection too",
  )
  sink.failNext(1, 401)
  await t.rejects(pipeline.exportRecords([record(2)]), { code: 'PSR_ERR_EXPORT_MISCONFIGURED', retryable: false, status: 401 })
  sink.failNext(100, 503)
  // After its retries the SDK reports no status: retryable, status unknown.
  await t.rejects(pipeline.exportRecords([record(3)]), { code: 'PSR_ERR_EXPORT_FAILED', retryable: true, status: undefined })
})

t.test('an exporter that fails without an error, or throws', async (t) => {
  const sink = await startOtlpSink()
  t.teardown(() => sink.close())
  const silent = createExportPipeline({
    ...pipelineOpts(sink),
    exporter: { export: (_l, cb) => cb({ code: ExportResultCode.FAILED }), shutdown: () => Promise.resolve(), forceFlush: () => Promise.resolve() },
  })
  await t.rejects(silent.exportRecords([record(1)]), { retryable: true, message: /without an error/ })
  await silent.shutdown()
  const throwing = createExportPipeline({
    ...pipelineOpts(sink),
    exporter: {
      export: () => {
        throw new Error('boom')
      },
      shutdown: () => Promise.resolve(),
      forceFlush: () => Promise.resolve(),
    },
  })
  await t.rejects(throwing.exportRecords([record(1)]), { retryable: true, message: /boom/ })
  await throwing.shutdown()
})

t.test('in-memory exporter: the SDK records carry what the mapper produced', async (t) => {
  const memory = new InMemoryLogRecordExporter()
  const sink = await startOtlpSink()
  t.teardown(() => sink.close())
  const pipeline = createExportPipeline({ ...pipelineOpts(sink), exporter: memory })
  await pipeline.exportRecords([record(1), record(2, { timestamp: undefined })])
  const [a, b] = memory.getFinishedLogRecords()
  t.same(a?.hrTime, [BASE_SECONDS + 1, 123_456_789])
  t.same(b?.hrTime, [0, 0], 'a missing event time stays unset, not "now"')
  t.equal(a?.eventName, 'proofpoint.message.delivered')
  t.equal(a?.instrumentationScope.name, SCOPE_NAME)
  await pipeline.shutdown()
})

t.test('options are validated', (t) => {
  const sink = { logsUrl: 'http://127.0.0.1:1/v1/logs' } as OtlpSink
  t.throws(() => createExportPipeline({ ...pipelineOpts(sink), maxBatchSize: 0 }), RangeError)
  t.throws(() => createExportPipeline({ ...pipelineOpts(sink), maxBatchBytes: 0 }), RangeError)
  t.throws(() => createExportPipeline({ ...pipelineOpts(sink), endpoint: 'ftp://x/v1/logs' }), TypeError)
  t.end()
})

t.test('invalid header values fail without echoing them', async (t) => {
  const { pipeline } = await setup(t, { headers: { 'x-api-key': `${SECRET}\n` } })
  const err = (await pipeline.exportRecords([record(1)]).then(
    () => undefined,
    (e: unknown) => e,
  )) as ExportError
  t.equal(err.retryable, false)
  t.match(err.message, /OTEL_EXPORTER_OTLP_HEADERS/)
  t.notMatch(err.message, SECRET)
})

t.test('error messages never show credentials in the endpoint', (t) => {
  const e = toExportError(new OtlpExportFailure('http', 'x', { status: 500, attempts: 3 }), {
    endpoint: 'https://user:pw@collector.example:4318/v1/logs?api-key=abc',
    timeoutMs: 1000,
    batch: 1,
    batches: 1,
    records: 1,
    bytes: 10,
  })
  t.match(e.message, 'collector at https://collector.example:4318/v1/logs answered 500 after 3 attempts')
  t.notMatch(e.message, /pw|abc/)
  t.equal(e.retryable, true)
  const tls = Object.assign(new Error('self-signed'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
  t.match(toExportError(tls, { endpoint: 'https://c/v1/logs', timeoutMs: 1, batch: 1, batches: 1, records: 1, bytes: undefined }).message, /TLS handshake/)
  const dns = new OtlpExportFailure('network', 'getaddrinfo ENOTFOUND c', { errorCode: 'ENOTFOUND', attempts: 6 })
  t.match(toExportError(dns, { endpoint: 'http://c/v1/logs', timeoutMs: 1, batch: 1, batches: 1, records: 1, bytes: undefined }).message, /could not be resolved/)
  const e413 = toExportError(new OtlpExportFailure('http', 'x', { status: 413, attempts: 1 }), {
    endpoint: 'http://c/v1/logs',
    timeoutMs: 1,
    batch: 2,
    batches: 3,
    records: 512,
    bytes: 5_000_000,
  })
  t.match(e413.message, /512 records, 5000000 bytes\) is too large for the collector: lower the batch size limit \(RECEIVER_EXPORT_BATCH_SIZE\)/)
  // Vector's opentelemetry source answers OTLP/JSON with a 500 naming the content-type: the message names the fix.
  const vector = new OtlpExportFailure('http', 'x', { status: 500, attempts: 1, responseText: '2Rejection(InvalidHeader { name: "content-type" })' })
  const ctx = { endpoint: 'http://vector:4318/v1/logs', timeoutMs: 1, batch: 1, batches: 1, records: 1, bytes: undefined }
  t.match(toExportError(vector, ctx).message, /failing; if this is Vector, it takes http\/protobuf only: set OTEL_EXPORTER_OTLP_PROTOCOL=http\/protobuf$/)
  t.notMatch(toExportError(new OtlpExportFailure('http', 'x', { status: 500, attempts: 1, responseText: 'db down' }), ctx).message, /Vector/)
  t.equal(e413.retryable, false)
  t.equal(toExportError('weird', { endpoint: 'nope', timeoutMs: 1, batch: 1, batches: 1, records: 1, bytes: undefined }).retryable, true)
  t.end()
})

t.test('toExportError: the code says what happens to the records; the message says what is wrong, not that it will be retried', (t) => {
  const ctx = { endpoint: 'http://c:4318/v1/logs', timeoutMs: 1000, batch: 1, batches: 1, records: 2, bytes: 100 }
  const http = (status: number, retryAfterMs?: number): OtlpExportFailure =>
    new OtlpExportFailure('http', `collector answered ${status}`, { status, attempts: 1, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) })
  const grpc = (grpcCode: number, message = 'no'): OtlpExportFailure => new OtlpExportFailure('grpc', message, { grpcCode, attempts: 1 })
  const cases: Array<[string, unknown, string]> = [
    ['503', http(503), 'PSR_ERR_EXPORT_FAILED'],
    ['429', http(429, 2000), 'PSR_ERR_EXPORT_FAILED'],
    ['408', http(408), 'PSR_ERR_EXPORT_FAILED'],
    ['connection refused', new OtlpExportFailure('network', 'refused', { errorCode: 'ECONNREFUSED', attempts: 3 }), 'PSR_ERR_EXPORT_FAILED'],
    ['timeout', new OtlpExportFailure('timeout', 'slow', { attempts: 2 }), 'PSR_ERR_EXPORT_FAILED'],
    ['an unknown error', new Error('odd'), 'PSR_ERR_EXPORT_FAILED'],
    ['gRPC UNAVAILABLE', grpc(14), 'PSR_ERR_EXPORT_FAILED'],
    ['gRPC RESOURCE_EXHAUSTED (throttling)', grpc(8), 'PSR_ERR_EXPORT_FAILED'],
    ['400', http(400), 'PSR_ERR_EXPORT_REJECTED'],
    ['422', http(422), 'PSR_ERR_EXPORT_REJECTED'],
    ['413', http(413), 'PSR_ERR_EXPORT_REJECTED'],
    ['gRPC INVALID_ARGUMENT', grpc(3), 'PSR_ERR_EXPORT_REJECTED'],
    ['401', http(401), 'PSR_ERR_EXPORT_MISCONFIGURED'],
    ['404', http(404), 'PSR_ERR_EXPORT_MISCONFIGURED'],
    ['a redirect', http(302), 'PSR_ERR_EXPORT_MISCONFIGURED'],
    ['TLS on an http:// endpoint', new OtlpExportFailure('misconfigured', 'the endpoint speaks TLS', { attempts: 1 }), 'PSR_ERR_EXPORT_MISCONFIGURED'],
    ['gRPC UNAUTHENTICATED', grpc(16), 'PSR_ERR_EXPORT_MISCONFIGURED'],
  ]
  for (const [what, failure, code] of cases) {
    const e = toExportError(failure, ctx)
    t.equal(e.code, code, what)
    t.equal(e.retryable, code === 'PSR_ERR_EXPORT_FAILED', `${what}: retryable is the code's`)
    t.notMatch(e.message, /will retry|retrying/, `${what}: ${e.message}`)
  }
  t.end()
})

t.test('Retry-After parsing', (t) => {
  t.equal(parseRetryAfter(undefined), undefined)
  t.equal(parseRetryAfter(''), undefined)
  t.equal(parseRetryAfter('3'), 3000)
  t.equal(parseRetryAfter(new Date(10_000).toUTCString(), 5_000), 5000)
  t.equal(parseRetryAfter('soon'), undefined)
  t.end()
})

t.test('cutBatches: count and size limits', (t) => {
  const rs = Array.from({ length: 7 }, (_, i) => record(i))
  const one = estimateRecordBytes(rs[0]!, 'protobuf')
  const lengths = (maxBatchSize: number, maxBatchBytes: number): number[] =>
    cutBatches(rs.length, (i) => estimateRecordBytes(rs[i]!, 'protobuf'), { maxBatchSize, maxBatchBytes, overheadBytes: 100 }).map((b) => b.end - b.start)
  t.same(lengths(3, 1e9), [3, 3, 1])
  t.same(lengths(100, 100 + 2 * one + 10), [2, 2, 2, 1])
  t.same(lengths(100, 1), [1, 1, 1, 1, 1, 1, 1], 'every record over the limit goes alone')
  t.same(
    cutBatches(3, () => 10, { maxBatchSize: 2, maxBatchBytes: 1e9, overheadBytes: 5 }),
    [
      { start: 0, end: 2, bytes: 25 },
      { start: 2, end: 3, bytes: 15 },
    ],
    'runs are contiguous and their sizes include the overhead',
  )
  t.end()
})

t.test('size estimates are upper bounds of the real encodings', (t) => {
  const factory = new SdkRecordFactory({ serviceName: 's', serviceVersion: '1.0.0', resourceAttributes: { 'a.b': 'c'.repeat(300) } })
  t.teardown(() => factory.shutdown())
  const nasty = [
    record(1),
    record(2, { body: undefined, attributes: {} }),
    record(3, { body: { map: { deep: [1, -1, 2 ** 62, -(2 ** 62), 1.5, Number.MAX_VALUE, -Number.MAX_VALUE, null, true] } } }),
    record(4, { body: 'lone \ud800 surrogate \udc00 and pair 😀 and controls \u0000\u001f\b\f\r' }),
    record(5, { attributes: { bytes: new Uint8Array(1000), empty: '', arr: [], obj: {}, n: null, ['ü'.repeat(200)]: 'ß'.repeat(70_000) } }),
    ...Array.from({ length: 50 }, (_, i) => record(100 + i)),
  ]
  for (const format of ['protobuf', 'json'] as const) {
    const serializer = format === 'json' ? JsonLogsSerializer : ProtobufLogsSerializer
    const overhead = estimateRequestOverheadBytes(factory.resource.attributes, { name: SCOPE_NAME, version: '1.0.0' }, format)
    const under: string[] = []
    for (const r of nasty) {
      const actual = serializer.serializeRequest(factory.toSdkRecords([r]))!.length
      const estimated = overhead + estimateRecordBytes(r, format)
      if (estimated < actual) under.push(`${r.uid}: estimate ${estimated} < actual ${actual}`)
    }
    t.same(under, [], `${format}: no record is under-estimated`)
    const all = serializer.serializeRequest(factory.toSdkRecords(nasty))!.length
    const estimatedAll = nasty.reduce((n, r) => n + estimateRecordBytes(r, format), overhead)
    t.ok(estimatedAll >= all, `${format} batch: estimate ${estimatedAll} ≥ actual ${all}`)
    t.ok(estimatedAll <= all * 1.6, `${format} batch: estimate ${estimatedAll} not far above ${all}`)
  }
  t.end()
})

/** Serialized size of a request holding `records`, as the pipeline would send it (protobuf, uncompressed). */
function requestBytes(records: MappedRecord[]): number {
  const factory = new SdkRecordFactory({
    serviceName: 'psr-test',
    serviceVersion: '9.8.7',
    resourceAttributes: { 'deployment.environment.name': 'test', 'k8s.namespace.name': 'security' },
  })
  const bytes = ProtobufLogsSerializer.serializeRequest(factory.toSdkRecords(records))!.length
  void factory.shutdown()
  return bytes
}

t.test('413: the request is split in halves until the collector takes it; later calls plan smaller requests', async (t) => {
  const records = Array.from({ length: 10 }, (_, i) => record(i))
  const maxBodyBytes = requestBytes(records.slice(0, 3)) + 20
  const { sink, pipeline } = await setup(t, {}, { maxBodyBytes })
  const report = await pipeline.exportRecords(records)
  t.same(
    sink.requests.map((r) => [r.status, r.records || undefined]),
    [
      [413, undefined],
      [413, undefined],
      [200, 3],
      [200, 2],
      [413, undefined],
      [200, 3],
      [200, 2],
    ],
    '10 → 5 + 5 → 3 + 2 each',
  )
  t.same(
    sink.records.map((r) => r.attributes['log.record.uid']),
    records.map((r) => r.uid),
    'each record once, in order',
  )
  t.ok(sink.requests.filter((r) => r.status === 200).every((r) => r.bodyBytes <= maxBodyBytes))
  t.equal(report.records, 10)
  t.equal(report.batches, 4)
  t.equal(report.splits, 3)
  t.same(report.requests, { ok: 4, rejected: 0, too_large: 3, error: 0 }, 'the 413s counted as too_large')
  t.same(report.rejected, [])
  t.equal(report.rejectedRecords, 0)
  t.equal(report.bytes, sink.requests.filter((r) => r.status === 200).reduce((n, r) => n + r.wireBytes, 0), 'bytes of acknowledged requests')

  sink.clear()
  const more = Array.from({ length: 10 }, (_, i) => record(100 + i))
  const second = await pipeline.exportRecords(more)
  t.equal(second.records, 10)
  t.ok(second.splits < report.splits, `the learned limit avoids most 413s (${second.splits} splits)`)
  t.ok(sink.requests.length < 7, `fewer requests (${sink.requests.length})`)
  t.same(
    sink.records.map((r) => r.attributes['log.record.uid']),
    more.map((r) => r.uid),
  )
})

t.test('413 for a single record: rejected, saying it is larger than the collector accepts; the others are delivered', async (t) => {
  const small = Array.from({ length: 5 }, (_, i) => record(i))
  const maxBodyBytes = requestBytes(small.slice(0, 3)) + 20
  const { sink, pipeline } = await setup(t, {}, { maxBodyBytes })
  const records = [small[0]!, record(99, { body: 'x'.repeat(10_000) }), ...small.slice(1)]
  const report = await pipeline.exportRecords(records)
  t.same(
    sink.records.map((r) => r.attributes['log.record.uid']),
    records.filter((_, i) => i !== 1).map((r) => r.uid),
    'all but the big one delivered, in order',
  )
  t.equal(report.records, 5)
  t.equal(report.rejectedRecords, 1)
  t.equal(report.rejected.length, 1)
  t.match(report.rejected[0], { index: 1, status: 413 })
  t.match(report.rejected[0]!.reason, /refused a request holding a single record of \d+ bytes as too large \(413\).*larger than the collector accepts/)
  t.same(report.rejectionMessages, [report.rejected[0]!.reason])
  t.ok(report.splits >= 2)
})

t.test('413 with gzip: split the same way', async (t) => {
  const records = Array.from({ length: 8 }, (_, i) => record(i))
  const { sink, pipeline } = await setup(t, { compression: 'gzip' }, { maxBodyBytes: requestBytes(records.slice(0, 2)) + 20 })
  const report = await pipeline.exportRecords(records)
  t.equal(report.records, 8)
  t.same(
    sink.records.map((r) => r.attributes['log.record.uid']),
    records.map((r) => r.uid),
  )
})

t.test('shutdown during 413 splitting abandons the rest', async (t) => {
  const records = Array.from({ length: 4 }, (_, i) => record(i))
  const { sink, pipeline } = await setup(t, {}, { maxBodyBytes: requestBytes(records.slice(0, 1)) + 20 })
  const pending = pipeline.exportRecords(records)
  while (sink.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 1))
  t.equal(sink.requests[0]!.status, 413, 'splitting has begun')
  void pipeline.shutdown()
  await t.rejects(pending, { retryable: true, message: /shutting down/ })
  t.ok(sink.records.length < 4, `abandoned after ${sink.records.length} records`)
})

t.test('failure classes: what is retried, what is rejected as data, what needs a configuration fix', (t) => {
  const http = (status: number): OtlpExportFailure => new OtlpExportFailure('http', 'x', { status, attempts: 1 })
  const cases: Array<[unknown, string]> = [
    [http(400), 'rejected'],
    [http(409), 'rejected'],
    [http(422), 'rejected'],
    [http(413), 'too-large'],
    [http(408), 'transient'],
    [http(429), 'transient'],
    [http(500), 'transient'],
    [http(502), 'transient'],
    [http(503), 'transient'],
    [http(504), 'transient'],
    [http(401), 'misconfigured'],
    [http(403), 'misconfigured'],
    [http(404), 'misconfigured'],
    [http(405), 'misconfigured'],
    [http(415), 'misconfigured'],
    [http(431), 'misconfigured'],
    [http(308), 'misconfigured'],
    [new OtlpExportFailure('network', 'x', { errorCode: 'ECONNREFUSED', attempts: 1 }), 'transient'],
    [new OtlpExportFailure('timeout', 'x', { attempts: 1 }), 'transient'],
    [new OtlpExportFailure('aborted', 'x', { attempts: 0 }), 'transient'],
    [new OtlpExportFailure('request', 'x', { attempts: 0 }), 'misconfigured'],
    [Object.assign(new Error('sdk'), { code: 400 }), 'rejected'],
    [new Error('something else'), 'transient'],
  ]
  for (const [error, kind] of cases) t.equal(classifyFailure(error), kind, `${(error as OtlpExportFailure).status ?? (error as Error).message} → ${kind}`)
  t.equal(failureStatus(http(422)), 422)
  t.equal(failureStatus(new Error('x')), undefined)
  const ctx = { endpoint: 'http://c/v1/logs', timeoutMs: 1, batch: 1, batches: 1, records: 1, bytes: undefined }
  t.match(toExportError(http(308), ctx), { retryable: false, message: /redirect \(308\).*final URL/ })
  t.match(toExportError(http(408), ctx), { retryable: true, message: /timed the request out \(408\)/ })
  t.match(rejectionReason(http(422), { ...ctx, records: 3 }), /rejected 3 records \(422\); sending them again cannot help/)
  t.match(rejectionReason(http(413), ctx), /single record as too large/)
  t.end()
})

t.test('TLS: alerts about our client certificate name OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE/_CLIENT_KEY; still retryable', (t) => {
  const ctx = { endpoint: 'https://c:4318/v1/logs', timeoutMs: 1, batch: 1, batches: 1, records: 1, bytes: undefined }
  const tls = (code: string, message: string): OtlpExportFailure => new OtlpExportFailure('network', message, { errorCode: code, attempts: 1 })
  const required = toExportError(tls('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required: SSL alert number 116'), ctx)
  t.equal(required.retryable, true)
  t.match(required.message, /failed the TLS handshake \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\): the collector requires a client certificate/)
  t.match(required.message, /OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY/)
  for (const [code, message] of [
    ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'sslv3 alert bad certificate: SSL alert number 42'],
    ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'tlsv1 alert unknown ca: SSL alert number 48'],
    ['ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', 'sslv3 alert certificate expired'],
    ['EPROTO', 'write EPROTO ...:sslv3 alert bad certificate:...:SSL alert number 42'],
  ] as const) {
    const e = toExportError(tls(code, message), ctx)
    t.equal(e.retryable, true, code)
    t.match(e.message, /the collector refused our client certificate \(mutual TLS\); check OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY/, code)
  }
  const serverSide = toExportError(tls('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'), ctx)
  t.match(serverSide.message, /OTEL_EXPORTER_OTLP_CERTIFICATE\)/)
  t.notMatch(serverSide.message, /CLIENT_CERTIFICATE/, "the server's certificate is not about ours")
  const reset = toExportError(tls('ECONNRESET', 'socket hang up'), ctx)
  t.match(reset.message, /if the collector requires mutual TLS, check OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE/)
  t.notMatch(toExportError(tls('ECONNRESET', 'socket hang up'), { ...ctx, endpoint: 'http://c/v1/logs' }).message, /CLIENT_CERTIFICATE/, 'plain http: no TLS hint')
  t.end()
})

// Tests run from dist/test; the fixtures stay in the source tree.
const tlsFixture = (name: string): string => readFileSync(new URL(`../../../test/fixtures/tls/${name}`, import.meta.url), 'utf8')

/** An https OTLP endpoint on 127.0.0.1 that requires a client certificate from `clientCa`. */
async function mtlsCollector(t: Test, opts: { clientCa: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3' }): Promise<string> {
  const server = https.createServer(
    {
      cert: tlsFixture('server.pem'),
      key: tlsFixture('server.key'),
      ca: opts.clientCa,
      requestCert: true,
      rejectUnauthorized: true,
      ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
    },
    (req, res) => {
      req.resume()
      req.on('end', () => res.writeHead(200, { 'content-length': '0' }).end())
    },
  )
  server.on('tlsClientError', () => undefined)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  return `https://127.0.0.1:${(server.address() as net.AddressInfo).port}/v1/logs`
}

t.test('mutual TLS over TLS 1.2 without a client certificate: the handshake failure names the client certificate settings', async (t) => {
  const endpoint = await mtlsCollector(t, { clientCa: tlsFixture('ca.pem'), maxVersion: 'TLSv1.2' })
  const pipeline = createExportPipeline({ ...pipelineOpts({ logsUrl: endpoint } as OtlpSink, { timeoutMs: 1500 }), tls: { ca: tlsFixture('ca.pem') } })
  t.teardown(() => pipeline.shutdown())
  const err = (await pipeline.exportRecords([record(1)]).then(
    () => undefined,
    (e: unknown) => e,
  )) as ExportError
  t.ok(err instanceof ExportError)
  t.equal(err.retryable, true)
  t.match(err.message, /failed the TLS handshake .*OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY/)
})

t.test('mutual TLS: a client certificate the collector does not trust: retryable, names the client certificate settings', async (t) => {
  // The collector trusts only its own certificate as a client CA: our client certificate (from the test CA) is refused.
  const endpoint = await mtlsCollector(t, { clientCa: tlsFixture('server.pem') })
  const pipeline = createExportPipeline({
    ...pipelineOpts({ logsUrl: endpoint } as OtlpSink, { timeoutMs: 1500 }),
    tls: { ca: tlsFixture('ca.pem'), cert: tlsFixture('client.pem'), key: tlsFixture('client.key') },
  })
  t.teardown(() => pipeline.shutdown())
  const err = (await pipeline.exportRecords([record(1)]).then(
    () => undefined,
    (e: unknown) => e,
  )) as ExportError
  t.ok(err instanceof ExportError)
  t.equal(err.retryable, true)
  // A Node.js server drops the connection after the handshake; Go's crypto/tls (the Collector) sends bad_certificate.
  t.match(err.message, /OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY/)
})

t.test('protobuf: concurrent calls reusing their buffers deliver every record intact, large calls then small ones', async (t) => {
  const { sink, pipeline } = await setup(t, { maxConcurrency: 3, maxBatchSize: 7 })
  // Bodies of varying size, so that a call reusing a larger call's buffers would show stale bytes.
  const make = (call: number, n: number, size: number): MappedRecord[] =>
    Array.from({ length: n }, (_, j) => record(call * 1000 + j, { body: `${call}:${j}:${'x'.repeat(size + ((call * 7 + j) % 13))}` }))
  const calls = Array.from({ length: 24 }, (_, c) => make(c, c < 12 ? 40 : 9, c < 12 ? 3000 : 10))
  const reports = await Promise.all(calls.map((records) => pipeline.exportRecords(records)))
  t.same(
    reports.map((r) => r.records),
    calls.map((c) => c.length),
  )
  const sent = new Map(calls.flat().map((r) => [r.uid, r.body]))
  const got = new Map(sink.records.map((r) => [String(r.attributes['log.record.uid']), r.body]))
  t.equal(sink.records.length, sent.size, 'each record once')
  let wrong = 0
  for (const [uid, body] of sent) if (got.get(uid) !== body) wrong++
  t.equal(wrong, 0, 'every body arrived as sent')
})

t.test('an attribute count limit drops the event\'s own attributes, never log.record.uid or proofpoint.event_type', async (t) => {
  const { mapEvent } = await import('../../src/mapping/map-event.js')
  const api = JSON.parse(readFileSync(new URL('../../../test/fixtures/siem-all-response.json', import.meta.url), 'utf8')) as Record<string, unknown[]>
  const rec = mapEvent(api.messagesDelivered![0] as never, 'messagesDelivered', { attributeShape: 'flat', body: 'json', indicators: true, standardFields: true }, [BASE_SECONDS, 0])
  t.ok(Object.keys(rec.attributes).length > 12, `${Object.keys(rec.attributes).length} attributes`)
  for (const protocol of PROTOCOLS) {
    const { sink, pipeline } = await setup(t, { protocol, logRecordLimits: { attributeCountLimit: 10 } })
    const report = await pipeline.exportRecords([rec])
    t.ok(report.droppedAttributes > 0, `${protocol}: attributes dropped`)
    const got = sink.records.at(-1)!
    t.equal(got.attributes['log.record.uid'], rec.uid, `${protocol}: the dedup key stays`)
    t.equal(got.attributes['proofpoint.event_type'], 'messagesDelivered', `${protocol}: and the event type`)
  }
})

t.test("the protobuf codec's records buffer: kept from call to call, but not the one a burst of big events grew once 128 calls after it needed far less", async (t) => {
  const encoder = new OtlpProtoLogsEncoder({ resourceAttributes: {}, scope: { name: SCOPE_NAME, version: '1' } })
  const codecs = protobufCodec({ sendEncoded: () => Promise.resolve({ code: ExportResultCode.SUCCESS }) }, encoder, 128)
  const call = async (records: MappedRecord[]): Promise<void> => {
    const codec = codecs.forCall()
    for (const batch of codec.plan(records, 3 << 20)) await codec.send(batch)
    codec.release()
  }
  const small = Array.from({ length: 20 }, (_, i) => record(i))
  await call(small)
  const normal = codecs.keptBytes()
  t.ok(normal > 0, `kept: ${normal} bytes`)
  await call(Array.from({ length: 16 }, (_, i) => record(i, { body: 'b'.repeat(900_000) })))
  t.ok(codecs.keptBytes() > 8 << 20, `the burst's, while such calls are recent: ${codecs.keptBytes()} bytes`)
  for (let i = 0; i < 128; i++) await call(small)
  t.equal(codecs.keptBytes(), normal, 'what normal calls need')
})

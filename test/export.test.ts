import net from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { ExportResultCode } from '@opentelemetry/core'
import { InMemoryLogRecordExporter } from '@opentelemetry/sdk-logs'
import type { LogRecordExporter } from '@opentelemetry/sdk-logs'
import { OTLPLogExporter as SdkProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto'
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer'
import { ExportError } from '../src/errors.js'
import {
  createExportPipeline,
  estimateRecordBytes,
  estimateRequestOverheadBytes,
  parseRetryAfter,
  planBatches,
  PROCESS_INSTANCE_ID,
  SCOPE_NAME,
  SdkRecordFactory,
  toExportError,
  OtlpExportFailure,
} from '../src/export/index.js'
import type { ExportPipelineOptions } from '../src/export/index.js'
import type { MappedRecord } from '../src/mapping/types.js'
import { startOtlpSink } from './helpers/otlp-sink.js'
import type { OtlpSink } from './helpers/otlp-sink.js'

const PROTOCOLS = ['http/protobuf', 'http/json'] as const
const SECRET = 'sekrit-api-key-value'
const BASE_SECONDS = 1_700_000_000

function record(i: number, extra: Partial<MappedRecord> = {}): MappedRecord {
  const uid = `messagesDelivered:${i.toString(16).padStart(8, '0')}`
  return {
    eventType: 'messagesDelivered',
    eventName: 'proofpoint.message.delivered',
    uid,
    timestamp: [BASE_SECONDS + i, 123_456_789],
    observedTimestamp: [BASE_SECONDS + 3600, 987_654_321],
    severityNumber: 13,
    severityText: 'WARN',
    attributes: {
      'proofpoint.event_type': 'messagesDelivered',
      'log.record.uid': uid,
      'proofpoint.spamScore': 42 + i,
      'proofpoint.phishScore': 0,
      'proofpoint.ratio': 0.25,
      'proofpoint.completelyRewritten': true,
      'proofpoint.toAddresses': ['a@example.com', 'b@example.com'],
      'proofpoint.messageParts.sha256': ['ab12', ''],
      'proofpoint.subject': 'Invoice "Q3" ✓ 💥 \\ naïve',
    },
    body: JSON.stringify({ GUID: `g-${i}`, subject: 'Invoice "Q3"', spamScore: 42 + i }),
    malformed: [],
    ...extra,
  }
}

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
    t.same(report, { records: 4, batches: 1, bytes: req.wireBytes, droppedAttributes: 0, rejectedRecords: 0, rejectionMessages: [] })

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

t.test('400: permanent ExportError with the status, no retries, no header values in the message', async (t) => {
  const { sink, pipeline } = await setup(t)
  sink.failNext(1, 400, {}, 'invalid nested map value')
  const err = await pipeline.exportRecords([record(1)]).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(err instanceof ExportError)
  const e = err as ExportError
  t.equal(e.code, 'PSR_ERR_EXPORT_REJECTED')
  t.equal(e.retryable, false)
  t.equal(e.status, 400)
  t.match(e.message, /rejected the export \(400\): "invalid nested map value"/)
  t.notMatch(e.message, SECRET)
  t.equal(sink.requests.length, 1, 'not retried')
  t.equal(sink.records.length, 0)
})

t.test('401 and 404 say where to look', async (t) => {
  const { sink, pipeline } = await setup(t)
  sink.failNext(1, 401)
  await t.rejects(pipeline.exportRecords([record(1)]), { retryable: false, status: 401, message: /OTEL_EXPORTER_OTLP_HEADERS/ })
  sink.failNext(1, 404)
  await t.rejects(pipeline.exportRecords([record(1)]), { retryable: false, status: 404, message: /OTEL_EXPORTER_OTLP_ENDPOINT/ })
})

t.test('503 persistent: retryable ExportError after the exporter retried within timeoutMs', async (t) => {
  const { sink, pipeline } = await setup(t, { timeoutMs: 1500 })
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
  t.ok(elapsed < 1500 + 500, `gave up within the timeout (${elapsed} ms)`)
})

t.test('503 once, then accepted: the exporter retries by itself', async (t) => {
  const { sink, pipeline } = await setup(t)
  sink.failNext(1, 503)
  const report = await pipeline.exportRecords([record(1), record(2)])
  t.equal(report.records, 2)
  t.equal(sink.requests.length, 2)
  t.equal(sink.records.length, 2, 'the refused attempt left no records')
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
  await t.rejects(pipeline.exportRecords([record(1)]), { retryable: true, status: 429, message: /throttling exports \(429, asked to retry after 30 s\)/ })
  t.equal(sink.requests.length, 1)
})

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
  await t.rejects(pipeline.exportRecords([record(1)]), { retryable: true, code: 'PSR_ERR_EXPORT_FAILED', message: /did not acknowledge the export within 500 ms/ })
  t.ok(Date.now() - started < 2000)
})

t.test('a failure in the 2nd batch rejects the whole call; sending again duplicates batch 1 with the same uids', async (t) => {
  const { sink, pipeline } = await setup(t, { maxBatchSize: 2 })
  const records = [record(1), record(2), record(3), record(4)]
  sink.acceptNext(1)
  sink.failNext(1, 400)
  await t.rejects(pipeline.exportRecords(records), { retryable: false, status: 400, message: /batch 2 of 2/ })
  t.equal(sink.records.length, 2, 'batch 1 had been acknowledged')
  await pipeline.exportRecords(records)
  t.same(
    sink.records.map((r) => r.attributes['log.record.uid']),
    [records[0]!.uid, records[1]!.uid, ...records.map((r) => r.uid)],
  )
})

t.test('calls are queued: one batch in flight at a time', async (t) => {
  const sink = await startOtlpSink()
  t.teardown(() => sink.close())
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
  const queued = createExportPipeline({ ...pipelineOpts(sink), maxBatchSize: 2, exporter })
  const reports = await Promise.all([queued.exportRecords([record(1), record(2), record(3)]), queued.exportRecords([record(4)])])
  t.equal(maxInFlight, 1)
  t.same(
    reports.map((r) => [r.records, r.batches, r.bytes]),
    [
      [3, 2, undefined],
      [1, 1, undefined],
    ],
    'an injected exporter does not report bytes',
  )
  await queued.shutdown()
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
  await t.rejects(pipeline.exportRecords([record(2)]), { code: 'PSR_ERR_EXPORT_REJECTED', message: /shut down/ })
})

t.test('nothing to send: no request', async (t) => {
  const { sink, pipeline } = await setup(t)
  t.same(await pipeline.exportRecords([]), { records: 0, batches: 0, bytes: 0, droppedAttributes: 0, rejectedRecords: 0, rejectionMessages: [] })
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
  t.same(report, { records: 2, batches: 1, bytes: 10, droppedAttributes: 0, rejectedRecords: 2, rejectionMessages: ['too old'] })
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
  await t.rejects(pipeline.exportRecords([record(2)]), { code: 'PSR_ERR_EXPORT_REJECTED', retryable: false, status: 400 })
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
  t.match(e413.message, /too large.*512 records, 5000000 bytes|512 records, 5000000 bytes.*too large/)
  t.equal(e413.retryable, false)
  t.equal(toExportError('weird', { endpoint: 'nope', timeoutMs: 1, batch: 1, batches: 1, records: 1, bytes: undefined }).retryable, true)
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

t.test('planBatches: count and size limits', (t) => {
  const rs = Array.from({ length: 7 }, (_, i) => record(i))
  const one = estimateRecordBytes(rs[0]!, 'protobuf')
  t.same(
    planBatches(rs, { maxBatchSize: 3, maxBatchBytes: 1e9, overheadBytes: 100, format: 'protobuf' }).map((b) => b.records.length),
    [3, 3, 1],
  )
  t.same(
    planBatches(rs, { maxBatchSize: 100, maxBatchBytes: 100 + 2 * one + 10, overheadBytes: 100, format: 'protobuf' }).map((b) => b.records.length),
    [2, 2, 2, 1],
  )
  t.same(
    planBatches(rs, { maxBatchSize: 100, maxBatchBytes: 1, overheadBytes: 100, format: 'protobuf' }).map((b) => b.records.length),
    [1, 1, 1, 1, 1, 1, 1],
    'every record over the limit goes alone',
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

t.test('the sink answers like a collector to what is not an OTLP logs request', async (t) => {
  const sink = await startOtlpSink({ maxBodyBytes: 100 })
  t.teardown(() => sink.close())
  const post = (path: string, contentType: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<number> =>
    fetch(`${sink.url}${path}`, { method: 'POST', headers: { 'content-type': contentType, ...headers }, body }).then((r) => r.status)
  t.equal((await fetch(sink.logsUrl)).status, 405)
  t.equal(await post('/v1/traces', 'application/x-protobuf', ''), 404)
  t.equal(await post('/v1/logs', 'text/plain', 'hi'), 415)
  t.equal(await post('/v1/logs', 'application/json', '{not json'), 400)
  t.equal(await post('/v1/logs', 'application/x-protobuf', Buffer.from([0xff, 0xff, 0xff])), 400)
  t.equal(await post('/v1/logs', 'application/json', 'x', { 'content-encoding': 'gzip' }), 400)
  t.equal(await post('/v1/logs', 'application/json', '{}', { 'content-encoding': 'br' }), 415)
  t.equal(await post('/v1/logs', 'application/json', JSON.stringify({ resourceLogs: [], pad: 'x'.repeat(200) })), 413)
  t.equal(await post('/v1/logs', 'application/json', '{"resourceLogs":[]}'), 200)
  t.same(
    sink.requests.map((r) => r.status),
    [405, 404, 415, 400, 400, 400, 415, 413, 200],
  )
  t.equal(sink.records.length, 0)
  await t.rejects(sink.waitFor(1, 50), /0 of 1 records/)
  sink.clear()
  t.equal(sink.requests.length, 0)
})

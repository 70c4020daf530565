/**
 * OTLP/gRPC export (issue 12 item 4): the real pipeline and exporter against a real grpc-js LogsService on loopback
 * that decodes what it received, for each way a gRPC collector can answer: OK, partial success, INVALID_ARGUMENT,
 * RESOURCE_EXHAUSTED (throttled, with and without RetryInfo, and over its message size limit), UNAVAILABLE,
 * UNAUTHENTICATED, UNIMPLEMENTED, a deadline, no server, an HTTP/1 server, TLS and mutual TLS, a CONNECT proxy.
 */
import { readFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { status as grpcStatus } from '@grpc/grpc-js'
import t from 'tap'
import type { Test } from 'tap'
import { ExportError } from '../../src/errors.js'
import { createExportPipeline } from '../../src/export/index.js'
import type { ExportPipeline, ExportPipelineOptions } from '../../src/export/index.js'
import { retryInfoDelayMs } from '../../src/export/grpc-status.js'
import { startForwardProxy } from '../helpers/forward-proxy.js'
import { startGrpcSink, statusWithRetryInfo } from '../helpers/otlp-grpc-sink.js'
import type { GrpcSink, GrpcSinkOptions } from '../helpers/otlp-grpc-sink.js'
import { startOtlpSink } from '../helpers/otlp-sink.js'
import { record } from '../helpers/records.js'

const SECRET = 'grpc-HEADER-secret-value'
const PROXY_PASSWORD = 'pr0xy-PASSWORD-must-not-leak'
const fixture = (name: string): Buffer => readFileSync(new URL(`../../../test/fixtures/tls/${name}`, import.meta.url))
const CA = fixture('ca.pem')

const records = (n: number, from = 0): ReturnType<typeof record>[] => Array.from({ length: n }, (_, i) => record(from + i))

function options(endpoint: string, over: Partial<ExportPipelineOptions> = {}): ExportPipelineOptions {
  return {
    endpoint,
    protocol: 'grpc',
    headers: { authorization: `Bearer ${SECRET}` },
    compression: 'none',
    timeoutMs: 5000,
    serviceName: 'psr-test',
    serviceVersion: '9.8.7',
    resourceAttributes: { 'deployment.environment.name': 'test' },
    ...over,
  }
}

async function setup(t: Test, over: Partial<ExportPipelineOptions> = {}, sinkOpts: GrpcSinkOptions = {}): Promise<{ sink: GrpcSink; pipeline: ExportPipeline }> {
  const sink = await startGrpcSink(sinkOpts)
  const pipeline = createExportPipeline(options(sink.url, over))
  t.teardown(async () => {
    await pipeline.shutdown()
    await sink.close()
  })
  return { sink, pipeline }
}

async function exportError(t: Test, p: Promise<unknown>): Promise<ExportError> {
  try {
    await p
  } catch (err) {
    if (err instanceof ExportError) return err
    t.fail(`not an ExportError: ${String(err)}`)
    throw err
  }
  t.fail('the export did not fail')
  throw new Error('unreachable')
}

/** Whatever the receiver shows: never a header value or a proxy password. */
function noSecrets(t: Test, text: string): void {
  t.notMatch(text, SECRET, 'no header value')
  t.notMatch(text, PROXY_PASSWORD, 'no proxy password')
}

t.test('records arrive over gRPC exactly as over OTLP/HTTP, with the headers as metadata', async (t) => {
  const { sink, pipeline } = await setup(t)
  const report = await pipeline.exportRecords(records(5))
  t.equal(report.records, 5)
  t.equal(report.batches, 1)
  t.equal(sink.records.length, 5)
  t.equal(sink.requests[0]?.metadata.authorization, `Bearer ${SECRET}`)
  t.match(sink.requests[0]?.metadata['user-agent'], /^proofpoint-siem-receiver\/9\.8\.7 grpc-node-js\//)
  t.ok(report.bytes !== undefined && report.bytes === sink.requests[0]?.bytes, 'bytes counted as the collector received them')

  // The same records through OTLP/HTTP: the collector sees the same thing either way.
  const http = await startOtlpSink()
  const httpPipeline = createExportPipeline(options(http.logsUrl, { protocol: 'http/protobuf' }))
  t.teardown(async () => {
    await httpPipeline.shutdown()
    await http.close()
  })
  await httpPipeline.exportRecords(records(5))
  const strip = (r: (typeof sink.records)[number]): unknown => ({ ...r, request: 0 })
  t.same(sink.records.map(strip), http.records.map(strip))
  t.equal(sink.requests[0]?.bytes, http.requests[0]?.bodyBytes, 'the same request bytes')
  t.equal(sink.records[0]?.attributes['proofpoint.subject'], 'Invoice "Q3" ✓ 💥 \\ naïve')
})

t.test('gzip: gRPC compresses the message and the collector decodes it', async (t) => {
  // The bytes on the wire, counted by a proxy's tunnel: the only place compression is visible (grpc-js decompresses
  // before the service sees the message, and takes grpc-encoding out of its metadata).
  const wire = async (compression: 'gzip' | 'none'): Promise<number> => {
    const proxy = await startForwardProxy(t, PROXY_PASSWORD)
    const { sink, pipeline } = await setup(t, { compression, proxy: proxy.url })
    await pipeline.exportRecords(records(50))
    t.equal(sink.records.length, 50, `${compression}: every record decoded`)
    return Buffer.concat(proxy.tunnelled).length
  }
  const plain = await wire('none')
  const gzipped = await wire('gzip')
  t.ok(gzipped < plain / 2, `gzip sends ${gzipped} bytes where none sends ${plain}`)
})

t.test('several requests in order; a batch the collector refuses as data (INVALID_ARGUMENT) is rejected, the rest go on', async (t) => {
  const { sink, pipeline } = await setup(t, { maxBatchSize: 4 })
  // Batch 2 and both its halves refused: the collector refuses them all.
  const refused = { code: grpcStatus.INVALID_ARGUMENT, details: `bad record, header was Bearer ${SECRET}` }
  sink.answerNext({ code: grpcStatus.OK }, refused, refused, refused)
  const report = await pipeline.exportRecords(records(10))
  t.equal(report.batches, 2)
  t.equal(report.records, 6)
  t.equal(report.rejectedRecords, 4)
  t.same(report.rejected.map((r) => r.index), [4, 5, 6, 7])
  t.match(report.rejected[0]?.reason, /rejected 2 records \(INVALID_ARGUMENT\): "bad record, header was Bearer \[REDACTED\]"/)
  noSecrets(t, JSON.stringify(report))
  t.same(
    sink.records.map((r) => r.attributes['proofpoint.spamScore']),
    [42, 43, 44, 45, 50, 51],
  )
})

t.test('partial success: acknowledged, the rejected count and message reported', async (t) => {
  const { pipeline, sink } = await setup(t)
  sink.answerNext({ code: grpcStatus.OK, partial: { rejected: 2, message: 'two records too old' } })
  const report = await pipeline.exportRecords(records(3))
  t.equal(report.records, 3)
  t.equal(report.rejectedRecords, 2)
  t.same(report.partialRejections, [{ start: 0, end: 3, rejected: 2, message: 'two records too old' }])
})

t.test('UNAVAILABLE is retried within the export and then acknowledged', async (t) => {
  const { pipeline, sink } = await setup(t)
  sink.answerNext({ code: grpcStatus.UNAVAILABLE, details: 'memory limiter refused' })
  const report = await pipeline.exportRecords(records(2))
  t.equal(report.records, 2)
  t.equal(sink.requests.length, 2)
  t.same(sink.requests.map((r) => r.code), [grpcStatus.UNAVAILABLE, grpcStatus.OK])
})

t.test('UNAVAILABLE until the deadline: a retryable error naming the status', async (t) => {
  const { pipeline, sink } = await setup(t, { timeoutMs: 1500 })
  sink.answerNext(...Array.from({ length: 20 }, () => ({ code: grpcStatus.UNAVAILABLE, details: 'backend down' })))
  const err = await exportError(t, pipeline.exportRecords(records(2)))
  t.equal(err.retryable, true)
  // One attempt or more: whether a retry fits before the deadline depends on the backoff's jitter.
  t.match(err.message, /answered UNAVAILABLE: "backend down"( after \d+ attempts)?; the collector or its backend is failing$/)
  t.equal(sink.records.length, 0)
})

t.test('RESOURCE_EXHAUSTED with RetryInfo: the delay is honoured (and handed to the receiver when longer than the deadline)', async (t) => {
  const { pipeline, sink } = await setup(t, { timeoutMs: 3000 })
  sink.answerNext({ code: grpcStatus.RESOURCE_EXHAUSTED, details: 'rate limited', retryDelayMs: 200 })
  const report = await pipeline.exportRecords(records(2))
  t.equal(report.records, 2, 'retried after the short delay')
  t.equal(sink.requests.length, 2)

  sink.answerNext({ code: grpcStatus.RESOURCE_EXHAUSTED, details: 'rate limited', retryDelayMs: 90_000 })
  const err = await exportError(t, pipeline.exportRecords(records(2, 10)))
  t.equal(err.retryable, true)
  t.equal(err.retryAfterMs, 90_000, 'the receiver waits what the collector asked (capped by RECEIVER_RETRY_MAX_BACKOFF there)')
  t.match(err.message, /is throttling exports \(RESOURCE_EXHAUSTED, asked to retry after 90 s\)/)
  t.equal(sink.requests.length, 3, 'not sent again within the export: the delay is longer than the deadline')
})

t.test('RESOURCE_EXHAUSTED without RetryInfo: not retried at once (the specification), held for the receiver to retry', async (t) => {
  const { pipeline, sink } = await setup(t)
  sink.answerNext({ code: grpcStatus.RESOURCE_EXHAUSTED, details: 'quota' })
  const err = await exportError(t, pipeline.exportRecords(records(2)))
  t.equal(err.retryable, true)
  t.equal(sink.requests.length, 1)
  t.equal(sink.records.length, 0)
})

t.test('over the collector message size limit: requests are split in halves until they fit; a record alone too large is rejected', async (t) => {
  const { pipeline, sink } = await setup(t, { maxBatchSize: 64 }, { maxReceiveBytes: 3000 })
  const report = await pipeline.exportRecords(records(20))
  t.ok(report.splits > 0, 'split after RESOURCE_EXHAUSTED "larger than max"')
  t.equal(report.records, 20)
  t.same(
    sink.records.map((r) => r.attributes['proofpoint.spamScore']),
    Array.from({ length: 20 }, (_, i) => 42 + i),
    'every record once, in order',
  )

  const huge = record(99, { body: 'x'.repeat(5000) })
  const single = await pipeline.exportRecords([huge])
  t.equal(single.rejectedRecords, 1)
  t.match(single.rejected[0]?.reason, /refused a request holding a single record of \d+ bytes as too large \(RESOURCE_EXHAUSTED\)/)
})

t.test('UNAUTHENTICATED: not the records fault, kept; says to check the headers, never quotes them', async (t) => {
  const { pipeline, sink } = await setup(t)
  sink.answerNext({ code: grpcStatus.UNAUTHENTICATED, details: `invalid token Bearer ${SECRET}` })
  const err = await exportError(t, pipeline.exportRecords(records(2)))
  t.equal(err.retryable, false)
  t.match(err.message, /refused the export \(UNAUTHENTICATED\).*check OTEL_EXPORTER_OTLP_HEADERS; nothing is wrong with the records/)
  noSecrets(t, err.message)
  t.equal(sink.requests.length, 1, 'not retried within the export')
})

t.test('UNIMPLEMENTED (a gRPC server without the logs service): says what to check', async (t) => {
  const { pipeline } = await setup(t, {}, { noService: true })
  const err = await exportError(t, pipeline.exportRecords(records(1)))
  t.equal(err.retryable, false)
  t.match(err.message, /\(UNIMPLEMENTED\).*no OTLP logs service/)
})

t.test('no answer within OTEL_EXPORTER_OTLP_TIMEOUT: a retryable timeout', async (t) => {
  const { pipeline, sink } = await setup(t, { timeoutMs: 600 })
  sink.hang(true)
  const err = await exportError(t, pipeline.exportRecords(records(1)))
  t.equal(err.retryable, true)
  t.match(err.message, /did not acknowledge the export within 600 ms \(OTEL_EXPORTER_OTLP_TIMEOUT\)/)
  sink.hang(false)
})

t.test('shutdown abandons a hanging export: retryable, nothing acknowledged', async (t) => {
  const sink = await startGrpcSink()
  t.teardown(() => sink.close())
  const pipeline = createExportPipeline(options(sink.url, { timeoutMs: 30_000 }))
  sink.hang(true)
  const pending = pipeline.exportRecords(records(1))
  while (sink.requests.length === 0) await new Promise((r) => setTimeout(r, 10))
  await pipeline.shutdown()
  const err = await exportError(t, pending)
  t.equal(err.retryable, true)
  t.match(err.message, /abandoned: the receiver is shutting down/)
})

t.test('nothing listening: a retryable error that says the connection was refused', async (t) => {
  const srv = net.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as AddressInfo
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  const pipeline = createExportPipeline(options(`http://127.0.0.1:${port}`, { timeoutMs: 1500 }))
  t.teardown(() => pipeline.shutdown())
  const err = await exportError(t, pipeline.exportRecords(records(1)))
  t.equal(err.retryable, true)
  t.match(err.message, /refused the connection; is the OpenTelemetry Collector\/Fluent Bit\/Vector running/)
})

t.test('an HTTP/1 server at the endpoint (the OTLP/HTTP port): says it does not speak gRPC', async (t) => {
  const server = http.createServer((_req, res) => res.end('hello'))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const pipeline = createExportPipeline(options(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { timeoutMs: 1500 }))
  t.teardown(() => pipeline.shutdown())
  const err = await exportError(t, pipeline.exportRecords(records(1)))
  t.match(err.message, /does not speak gRPC \(HTTP\/2\): OTLP\/gRPC is usually port 4317 and OTLP\/HTTP 4318/)
  t.equal(err.retryable, false)
})

t.test('TLS: the collector certificate is verified against OTEL_EXPORTER_OTLP_CERTIFICATE', async (t) => {
  const tls = { cert: fixture('server.pem'), key: fixture('server.key') }
  const { sink, pipeline } = await setup(t, { tls: { ca: CA } }, { tls })
  await pipeline.exportRecords(records(2))
  t.equal(sink.records.length, 2, 'exported over TLS with the configured CA')

  const untrusting = createExportPipeline(options(sink.url, { timeoutMs: 1500 }))
  t.teardown(() => untrusting.shutdown())
  const err = await exportError(t, untrusting.exportRecords(records(1)))
  t.equal(err.retryable, true)
  t.match(err.message, /failed the TLS handshake \([A-Z_]+\).*OTEL_EXPORTER_OTLP_CERTIFICATE/)
  t.equal(sink.records.length, 2, 'nothing sent to an unverified server')
})

t.test('an http:// endpoint where a TLS server listens: says to use https://, not retried', async (t) => {
  const { sink } = await setup(t, {}, { tls: { cert: fixture('server.pem'), key: fixture('server.key') } })
  const plaintext = createExportPipeline(options(`http://127.0.0.1:${sink.port}`, { timeoutMs: 1500 }))
  t.teardown(() => plaintext.shutdown())
  const err = await exportError(t, plaintext.exportRecords(records(1)))
  t.equal(err.retryable, false)
  t.match(err.message, /the endpoint speaks TLS: use https:\/\/ in OTEL_EXPORTER_OTLP_ENDPOINT/)
  t.notMatch(err.message, /after \d+ attempts/, 'one attempt')
})

t.test('mutual TLS: the client certificate and key are presented', async (t) => {
  const tls = { cert: fixture('server.pem'), key: fixture('server.key'), ca: CA }
  const { sink, pipeline } = await setup(t, { tls: { ca: CA, cert: fixture('client.pem'), key: fixture('client.key') } }, { tls })
  await pipeline.exportRecords(records(1))
  t.equal(sink.records.length, 1)

  const anonymous = createExportPipeline(options(sink.url, { tls: { ca: CA }, timeoutMs: 1500 }))
  t.teardown(() => anonymous.shutdown())
  const err = await exportError(t, anonymous.exportRecords(records(1)))
  t.equal(err.retryable, true)
  t.equal(sink.records.length, 1, 'a client without a certificate is refused')
})

t.test('through a CONNECT proxy (plaintext and TLS inside the tunnel); a refusing proxy is named, its password never', async (t) => {
  const proxy = await startForwardProxy(t, PROXY_PASSWORD)
  const { sink, pipeline } = await setup(t, { proxy: proxy.url })
  await pipeline.exportRecords(records(3))
  t.equal(sink.records.length, 3)
  t.same(proxy.seen, [`CONNECT 127.0.0.1:${sink.port}`])
  t.equal(proxy.auth[0], `Basic ${Buffer.from(`user:${PROXY_PASSWORD}`).toString('base64')}`, 'the proxy credentials from its URL')

  const tls = { cert: fixture('server.pem'), key: fixture('server.key') }
  const secure = await startGrpcSink({ tls })
  t.teardown(() => secure.close())
  const securePipeline = createExportPipeline(options(secure.url, { proxy: proxy.url, tls: { ca: CA } }))
  t.teardown(() => securePipeline.shutdown())
  await securePipeline.exportRecords(records(2))
  t.equal(secure.records.length, 2)
  t.ok(proxy.seen.includes(`CONNECT localhost:${secure.port}`))
  const tunnelled = Buffer.concat(proxy.tunnelled).toString('latin1')
  t.notMatch(tunnelled, SECRET, 'the proxy never saw the header value of the TLS connection')

  proxy.mode = 407
  const refused = await startGrpcSink()
  t.teardown(() => refused.close())
  const refusedPipeline = createExportPipeline(options(refused.url, { proxy: proxy.url, timeoutMs: 1500 }))
  t.teardown(() => refusedPipeline.shutdown())
  const err = await exportError(t, refusedPipeline.exportRecords(records(1)))
  t.equal(err.retryable, true)
  t.match(err.message, /the proxy http:\/\/\[redacted\]@127\.0\.0\.1:\d+\/? answered 407 to CONNECT 127\.0\.0\.1:\d+: check the credentials in the proxy URL/)
  noSecrets(t, err.message)
  t.equal(refused.requests.length, 0)
})

t.test('the RetryInfo reader: seconds and nanos; malformed details are ignored', async (t) => {
  t.equal(retryInfoDelayMs(statusWithRetryInfo(8, 'x', 1500)), 1500)
  t.equal(retryInfoDelayMs(statusWithRetryInfo(8, 'x', 30_000)), 30_000)
  t.equal(retryInfoDelayMs(undefined), undefined)
  t.equal(retryInfoDelayMs(Buffer.from([0x08, 0x08, 0x12, 0x01, 0x78])), undefined, 'no details')
  t.equal(retryInfoDelayMs(Buffer.from([0x1a, 0x7f, 0x01])), undefined, 'truncated')
  t.equal(retryInfoDelayMs(Buffer.from([0xff, 0xff])), undefined, 'garbage')
})

t.test('partial success with none rejected and a message is a warning; a count that cannot be is not counted', async (t) => {
  const { pipeline, sink } = await setup(t)
  sink.answerNext({ code: grpcStatus.OK, partial: { rejected: 0, message: 'attribute x is deprecated' } }, { code: grpcStatus.OK, partial: { rejected: -1, message: 'odd' } })
  const warned = await pipeline.exportRecords(records(2))
  t.equal(warned.rejectedRecords, 0)
  t.same(warned.warnings, ['attribute x is deprecated'], 'passed on, to be logged')
  const odd = await pipeline.exportRecords(records(3))
  t.equal(odd.rejectedRecords, 0, 'a negative count (huge, read unsigned) rejects nothing')
  t.same(odd.partialRejections, [])
  t.match(odd.warnings, [/^the collector's partial success says \d+ records were rejected, which cannot be: not counted; it said: odd$/])
})

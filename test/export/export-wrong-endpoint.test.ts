/**
 * An endpoint that is not what the protocol setting says (found by a review of first deployments): a web page that
 * answers 200, HTTP/1.1 against a gRPC port and the reverse, TLS against plain text, a client certificate refused.
 * Each must hold the records (nothing rejected, nothing acknowledged) and say which setting to fix.
 */
import http from 'node:http'
import { readFileSync } from 'node:fs'
import http2 from 'node:http2'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { ExportError } from '../../src/errors.js'
import { createExportPipeline } from '../../src/export/index.js'
import type { ExportPipelineOptions } from '../../src/export/index.js'
import { startGrpcSink } from '../helpers/otlp-grpc-sink.js'
import { record } from '../helpers/records.js'

const fixture = (name: string): Buffer => readFileSync(new URL(`../../../test/fixtures/tls/${name}`, import.meta.url))
const records = (n: number): ReturnType<typeof record>[] => Array.from({ length: n }, (_, i) => record(i))
const options = (endpoint: string, over: Partial<ExportPipelineOptions> = {}): ExportPipelineOptions => ({
  endpoint,
  protocol: 'grpc',
  headers: {},
  compression: 'none',
  timeoutMs: 2000,
  serviceName: 'psr-test',
  serviceVersion: '9.8.7',
  resourceAttributes: {},
  ...over,
})

async function outcome(t: Test, opts: ExportPipelineOptions, n = 4): Promise<{ err?: ExportError; rejected: number; reason?: string }> {
  const pipeline = createExportPipeline(opts)
  t.teardown(() => pipeline.shutdown())
  try {
    const report = await pipeline.exportRecords(records(n))
    return { rejected: report.rejectedRecords, reason: report.rejected[0]?.reason }
  } catch (err) {
    if (err instanceof ExportError) return { err, rejected: 0 }
    throw err
  }
}

async function h2Server(t: Test, respond: (stream: http2.ServerHttp2Stream) => void): Promise<string> {
  const server = http2.createServer()
  const sessions = new Set<http2.ServerHttp2Session>()
  server.on('session', (s) => sessions.add(s))
  server.on('stream', (stream) => {
    stream.on('error', () => {})
    respond(stream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const s of sessions) s.destroy()
    server.close()
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

t.test('gRPC: an HTTP/2 server answering 200 text/html is not a collector refusing records as too large', async (t) => {
  const url = await h2Server(t, (s) => {
    s.respond({ ':status': 200, 'content-type': 'text/html' })
    s.end('<html><body>Welcome</body></html>')
  })
  const o = await outcome(t, options(url))
  t.comment(o.reason ?? o.err?.message)
  t.equal(o.rejected, 0, 'no record rejected')
  t.equal(o.err?.retryable, false, 'a misconfiguration: records held')
  t.match(o.err?.message, /does not speak gRPC|not an OTLP\/gRPC/)
})

t.test('http/protobuf pointed at a gRPC port (4317): the message says so', async (t) => {
  const sink = await startGrpcSink()
  t.teardown(() => sink.close())
  const o = await outcome(t, options(`http://127.0.0.1:${sink.port}/v1/logs`, { protocol: 'http/protobuf' }))
  t.comment(o.err?.message)
  t.match(o.err?.message, /gRPC|4317|OTEL_EXPORTER_OTLP_PROTOCOL/)
})

t.test('gRPC, mutual TLS, client certificate the collector does not trust: the message names the client certificate settings', async (t) => {
  const sink = await startGrpcSink({ tls: { cert: fixture('server.pem'), key: fixture('server.key'), ca: fixture('ca.pem') } })
  t.teardown(() => sink.close())
  // server.pem/.key is a certificate from the right CA but for serverAuth only: a client certificate the collector refuses.
  const untrusted = { ca: fixture('ca.pem'), cert: fixture('server.pem'), key: fixture('server.key') }
  const o = await outcome(t, options(sink.url, { tls: untrusted }))
  t.comment(o.err?.message)
  t.match(o.err?.message, /OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE/)
})

t.test('gRPC over TLS to a server without HTTP/2 (ALPN no_application_protocol): says it is not a gRPC endpoint', async (t) => {
  const server = https.createServer({ cert: fixture('server.pem'), key: fixture('server.key') }, (_q, r) => r.end('x'))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const o = await outcome(t, options(`https://localhost:${(server.address() as AddressInfo).port}`, { tls: { ca: fixture('ca.pem') } }))
  t.comment(o.err?.message)
  t.match(o.err?.message, /HTTP\/2|gRPC|OTEL_EXPORTER_OTLP_PROTOCOL/)
})

t.test('host:port endpoint (TLS by default) at a plaintext gRPC collector: the message names OTEL_EXPORTER_OTLP_INSECURE / http://', async (t) => {
  const sink = await startGrpcSink()
  t.teardown(() => sink.close())
  const o = await outcome(t, options(`https://127.0.0.1:${sink.port}`))
  t.comment(o.err?.message)
  t.match(o.err?.message, /OTEL_EXPORTER_OTLP_INSECURE|http:\/\//)
})

t.test('OTLP/HTTP: a web server answering 200 with a page acknowledges nothing', async (t) => {
  for (const [type, page] of [['text/html; charset=utf-8', 'Welcome'], [undefined, '<!DOCTYPE html><html><body>Sign in</body></html>']] as const) {
    const server = http.createServer((_q, r) => {
      if (type !== undefined) r.setHeader('content-type', type)
      r.end(page)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => {
      server.closeAllConnections()
      server.close()
    })
    const o = await outcome(t, options(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`, { protocol: 'http/protobuf' }))
    t.equal(o.rejected, 0, 'no record rejected')
    t.equal(o.err?.retryable, false, 'a misconfiguration: records held')
    t.match(o.err?.message, /a web page came back, not an OTLP answer: not an OTLP\/HTTP endpoint.*OTEL_EXPORTER_OTLP_ENDPOINT/)
  }
})

/**
 * What the collector (or whatever answers at the endpoint) says, against real loopback servers:
 * - its text is quoted without credentials, even when it echoes the request headers, plain or JSON-escaped (issue 11.1);
 * - a 2xx status line is an acknowledgement, however slowly its body trickles in (issue 11.2);
 * - an http:// endpoint where a TLS server listens is named as such, and is not a data rejection (issue 11.3).
 */
import { readFileSync } from 'node:fs'
import http from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import https from 'node:https'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { ExportResultCode } from '@opentelemetry/core'
import { ExportError } from '../../src/errors.js'
import { classifyFailure, createExportPipeline, OtlpHttpLogExporter } from '../../src/export/index.js'
import { OtlpExportFailure } from '../../src/export/failure.js'
import type { ExportPipelineOptions } from '../../src/export/index.js'
import type { MappedRecord } from '../../src/mapping/types.js'
import { Redactor, REDACTED, otlpRedactor, redactUrl, siemSecretSource } from '../../src/redact.js'

const BEARER = 'abc/def-BEARER-t0ken-9f8e'
const API_KEY = 'k3y' // short: redacted only as a whole word (its header is named like a credential)
const USER = 'otlp-user'
const PASSWORD = 'p4ss/w0rd-USERINFO-1a2b'
const QUERY_KEY = 'QUERY-k3y/slash-3c4d'
const SIEM_PRINCIPAL = 'svc-principal@corp.example'
const SIEM_SECRET = 'S1EM-s3cret-DISTINCTIVE-5e6f'
const HEADERS = { authorization: `Bearer ${BEARER}`, 'x-api-key': API_KEY, 'x-scope-orgid': '7' }

/** Every form in which the credentials above must not be shown. */
const FORBIDDEN = [
  BEARER,
  BEARER.replace(/\//g, '\\/'),
  `Bearer ${BEARER}`,
  PASSWORD,
  encodeURIComponent(PASSWORD),
  PASSWORD.replace(/\//g, '\\/'),
  Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
  QUERY_KEY,
  encodeURIComponent(QUERY_KEY),
  QUERY_KEY.replace(/\//g, '\\/'),
  SIEM_SECRET,
  Buffer.from(`${SIEM_PRINCIPAL}:${SIEM_SECRET}`).toString('base64'),
  `"x-api-key":"${API_KEY}"`,
  `x-api-key: ${API_KEY}`,
]

/** The text with JSON escapes decoded (twice: JSON quoted in JSON), as a reader would read it. */
function unescaped(text: string): string {
  let out = text
  for (let i = 0; i < 2; i++) {
    out = out.replace(/\\u([0-9a-fA-F]{4})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))).replace(/\\([\\/"])/g, '$1')
  }
  return out
}

function assertNoCredentials(t: Test, text: string, what: string): void {
  for (const f of FORBIDDEN) {
    t.notOk(text.includes(f) || unescaped(text).includes(f), `${what}: ${JSON.stringify(f.slice(0, 12))}… not shown`)
  }
}

function record(i: number): MappedRecord {
  const uid = `messagesDelivered:${i.toString(16).padStart(8, '0')}`
  return {
    eventType: 'messagesDelivered',
    eventName: 'proofpoint.message.delivered',
    uid,
    timestamp: [1_700_000_000 + i, 0],
    observedTimestamp: [1_700_003_600, 0],
    severityNumber: 9,
    severityText: 'INFO',
    attributes: { 'proofpoint.event_type': 'messagesDelivered', 'log.record.uid': uid },
    body: '{}',
    malformed: [],
  }
}

interface Loopback {
  port: number
  /** Requests received so far. */
  readonly requests: number
}

async function listen(t: Test, server: net.Server): Promise<Loopback> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const out: Loopback = { port: (server.address() as AddressInfo).port, requests: 0 }
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        if (server instanceof http.Server) server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  return out
}

/** An HTTP server on 127.0.0.1 whose answers come from `handler`; counts requests. */
async function serve(t: Test, handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void): Promise<Loopback> {
  let requests = 0
  const server = http.createServer((req, res) => {
    requests++
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => handler(req, res, Buffer.concat(chunks)))
  })
  const { port } = await listen(t, server)
  return {
    port,
    get requests() {
      return requests
    },
  }
}

/** What a collector (or proxy) that echoes what it received writes: request line and headers, plain or as JSON. */
function echoBody(req: IncomingMessage, style: 'plain' | 'json'): string {
  const seen = { url: req.url, headers: req.headers, note: `upstream said: secret ${SIEM_SECRET} is not ours` }
  if (style === 'json') {
    // As Go's and PHP's encoders do: "/" escaped, and some characters as \u escapes.
    const json = JSON.stringify({ code: 3, message: 'bad request', details: seen })
    return json.replace(/\//g, '\\/').replace(/-/g, '\\u002d')
  }
  return `bad request: ${req.method} ${req.url}\n${Object.entries(req.headers)
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join('\n')}\n${seen.note}`
}

function pipelineOptions(endpoint: string, over: Partial<ExportPipelineOptions> = {}): ExportPipelineOptions {
  return {
    endpoint,
    protocol: 'http/protobuf',
    headers: HEADERS,
    compression: 'none',
    timeoutMs: 3000,
    serviceName: 'psr-test',
    serviceVersion: '1.2.3',
    resourceAttributes: {},
    otherSecrets: siemSecretSource(SIEM_PRINCIPAL, SIEM_SECRET),
    ...over,
  }
}

function echoEndpoint(port: number): string {
  return `http://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/v1/logs?api_key=${encodeURIComponent(QUERY_KEY)}&tenant=7`
}

for (const style of ['plain', 'json'] as const) {
  t.test(`a collector echoing the request headers (${style}) in a 400 and a 503: no credential in any message`, async (t) => {
    let status = 400
    const srv = await serve(t, (req, res) => {
      const body = echoBody(req, style)
      res.writeHead(status, { 'content-type': style === 'json' ? 'application/json' : 'text/plain', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
    const pipeline = createExportPipeline(pipelineOptions(echoEndpoint(srv.port), { timeoutMs: 2000 }))
    t.teardown(() => pipeline.shutdown())

    // 400: the records are reported rejected, with the collector's words quoted.
    const report = await pipeline.exportRecords([record(1), record(2)])
    t.equal(report.rejectedRecords, 2, 'a 400 rejects the records as data')
    const reason = report.rejected[0]?.reason ?? ''
    t.match(reason, /rejected [12] records? \(400\): ".*bad request/, 'the collector text is quoted')
    t.match(reason, /\[REDACTED\]/, 'with the credentials cut out')
    t.match(reason, /127\.0\.0\.1/, 'the rest of the text stays')
    assertNoCredentials(t, reason, '400 reason')
    assertNoCredentials(t, report.rejectionMessages.join('\n'), '400 rejection messages')

    // 503: the ExportError (logged, and shown in /status) quotes it too.
    status = 503
    const err = await pipeline.exportRecords([record(3)]).then(
      () => undefined,
      (e: unknown) => e,
    )
    t.ok(err instanceof ExportError, '503 persistent: thrown')
    const e = err as ExportError
    t.equal(e.retryable, true)
    t.match(e.message, /answered 503: ".*bad request.*\[REDACTED\]/)
    assertNoCredentials(t, e.message, '503 ExportError')
    const cause = e.cause
    t.ok(cause instanceof OtlpExportFailure)
    assertNoCredentials(t, (cause as OtlpExportFailure).responseText ?? '', '503 responseText')
    assertNoCredentials(t, JSON.stringify({ message: e.message, cause }), 'serialized')
  })
}

t.test('the exporter alone: the responseText of a 400 is redacted before it is cut short', async (t) => {
  // The credential straddles the 300-character cut: redacting after cutting would leave its first half.
  const srv = await serve(t, (req, res) => {
    const body = `${'x'.repeat(280)} ${req.headers.authorization ?? ''}`
    res.writeHead(400, { 'content-length': Buffer.byteLength(body) }).end(body)
  })
  const exporter = new OtlpHttpLogExporter({ url: `http://127.0.0.1:${srv.port}/v1/logs`, protocol: 'http/protobuf', headers: HEADERS })
  t.teardown(() => exporter.shutdown())
  const result = await exporter.send([])
  const failure = result.error as OtlpExportFailure
  t.equal(failure.status, 400)
  t.notOk((failure.responseText ?? '').includes(BEARER.slice(0, 8)), 'not even the start of the token')
})

t.test('OTLP partial success: the collector message is quoted without credentials', async (t) => {
  const srv = await serve(t, (req, res) => {
    const body = JSON.stringify({ partialSuccess: { rejectedLogRecords: 1, errorMessage: `dropped one; you sent ${req.headers.authorization ?? ''}` } })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
  })
  const pipeline = createExportPipeline(pipelineOptions(`http://127.0.0.1:${srv.port}/v1/logs`, { protocol: 'http/json' }))
  t.teardown(() => pipeline.shutdown())
  const report = await pipeline.exportRecords([record(1)])
  t.equal(report.rejectedRecords, 1)
  t.match(report.rejectionMessages.join('\n'), /you sent Bearer \[REDACTED\]/)
  assertNoCredentials(t, JSON.stringify(report), 'partial success report')
})

t.test('redactUrl: URLs the parser reads without // after the scheme are redacted too, as the URL they parse to', (t) => {
  t.equal(redactUrl('http:/puser:PXPASS77@127.0.0.1:13128'), 'http://[redacted]@127.0.0.1:13128/')
  t.equal(redactUrl('https:puser:PXPASS77@proxy.example'), 'https://[redacted]@proxy.example/')
  t.equal(redactUrl('http:\\\\u:p@h/x?token=QTOKEN'), 'http://[redacted]@h/x?token=[redacted]')
  t.equal(redactUrl('http:/127.0.0.1:14318/v1/logs?token=QTOKEN12'), 'http://127.0.0.1:14318/v1/logs?token=[redacted]')
  t.equal(redactUrl('http:/u:PXPASS@h:99999'), 'http:[redacted]', 'one that does not parse, with an @: not shown')
  for (const text of ['not a url', 'ok://x', 'mailto:a@b', 'http: a b']) t.equal(redactUrl(text), text, `${text}: left alone`)
  t.end()
})

t.test('Redactor: escaped, encoded and short values', (t) => {
  const r = otlpRedactor(`http://u:${encodeURIComponent('pa ss+word')}@h/v1/logs?token=ab&sig=${encodeURIComponent('a/b c')}`, {
    authorization: 'Basic ' + Buffer.from('user:Pw0rd-long').toString('base64'),
    'x-api-key': 'k1',
    'x-tenant': '42',
    'x-team': 'team one',
  })
  t.equal(r.redact('password pa ss+word and pa%20ss%2Bword'), `password ${REDACTED} and ${REDACTED}`)
  t.equal(r.redact('basic Pw0rd-long'), `basic ${REDACTED}`, 'the password inside a Basic header')
  t.equal(r.redact('{"x-api-key":"k1","k1x":1}'), `{"x-api-key":"${REDACTED}","k1x":1}`, 'a short credential as a whole word only')
  t.equal(r.redact('token=ab; tab'), `token=${REDACTED}; tab`, 'short query value of a credential-named parameter')
  t.equal(r.redact('tenant 42, team one, one more'), `tenant 42, ${REDACTED}, one more`, 'short values of other headers are left alone (and no scheme split)')
  t.equal(r.redact('Basic ' + Buffer.from('user:Pw0rd-long').toString('base64')), `Basic ${REDACTED}`, 'the scheme stays')
  t.equal(r.redact('sig a/b c and a%2Fb%20c and a\\/b c'), `sig ${REDACTED} and ${REDACTED} and ${REDACTED}`)
  // Escapes: \u, \/ and JSON inside JSON.
  const s = new Redactor().add('se/cret-1')
  t.equal(s.redact('x \\u0073e\\/cret-1 y'), `x ${REDACTED} y`)
  t.equal(s.redact(JSON.stringify(JSON.stringify({ m: 'se/cret-1' }).replace(/\//g, '\\/'))), JSON.stringify(JSON.stringify({ m: REDACTED })))
  t.equal(s.redact('nothing here \\n \\u12'), 'nothing here \\n \\u12', 'text without secrets is left as it is')
  // A source is asked on every use (a rotated secret file).
  let current = 'first-secret'
  const rotating = new Redactor().addSource(siemSecretSource('p', 'config-secret', () => current))
  t.equal(rotating.redact('first-secret config-secret'), `${REDACTED} ${REDACTED}`)
  current = 'second-secret'
  t.equal(rotating.redact('second-secret ' + Buffer.from('p:second-secret').toString('base64')), `${REDACTED} ${REDACTED}`)
  t.end()
})

t.test('a 2xx status line is an acknowledgement: a body trickling past the timeout does not make the batch go again', async (t) => {
  const timers = new Set<NodeJS.Timeout>()
  t.teardown(() => timers.forEach((timer) => clearInterval(timer)))
  const body = Buffer.from(JSON.stringify({ partialSuccess: {} }))
  const srv = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
    res.flushHeaders()
    let sent = 0
    // One byte every 300 ms: the whole body would take far longer than the 1 s timeout.
    const timer = setInterval(() => {
      if (res.destroyed || sent >= body.length) {
        clearInterval(timer)
        if (!res.destroyed) res.end()
        return
      }
      res.write(body.subarray(sent, sent + 1))
      sent++
    }, 300)
    timers.add(timer)
  })
  const exporter = new OtlpHttpLogExporter({
    url: `http://127.0.0.1:${srv.port}/v1/logs`,
    protocol: 'http/json',
    timeoutMillis: 1000,
    retry: { initialBackoffMs: 10, maxBackoffMs: 10 },
  })
  t.teardown(() => exporter.shutdown())
  const started = Date.now()
  const result = await exporter.send([])
  t.equal(result.code, ExportResultCode.SUCCESS, `acknowledged (${result.error?.message ?? 'no error'})`)
  t.equal(result.status, 200)
  t.equal(result.attempts, 1)
  t.notOk(result.partialSuccess, 'an incomplete body is not parsed')
  t.equal(srv.requests, 1, 'exactly one request')
  t.ok(Date.now() - started < 10_000, 'finished')

  // Through the pipeline: the records count as exported, once.
  const pipeline = createExportPipeline(pipelineOptions(`http://127.0.0.1:${srv.port}/v1/logs`, { timeoutMs: 1000, protocol: 'http/json' }))
  t.teardown(() => pipeline.shutdown())
  const report = await pipeline.exportRecords([record(1)])
  t.equal(report.records, 1)
  t.equal(report.rejectedRecords, 0)
  t.equal(srv.requests, 2, 'one more request, not a retry')
})

t.test('a non-2xx status line is answered by its status even if its body trickles past the timeout', async (t) => {
  const srv = await serve(t, (_req, res) => {
    res.writeHead(400, { 'content-length': 1000 })
    res.write('partial text')
  })
  const exporter = new OtlpHttpLogExporter({ url: `http://127.0.0.1:${srv.port}/v1/logs`, protocol: 'http/protobuf', timeoutMillis: 500 })
  t.teardown(() => exporter.shutdown())
  const result = await exporter.send([])
  const failure = result.error as OtlpExportFailure
  t.equal(failure.reason, 'http')
  t.equal(failure.status, 400)
  t.equal(failure.responseText, 'partial text')
  t.equal(srv.requests, 1)
})

const fixture = (name: string): string => readFileSync(new URL(`../../../test/fixtures/${name}`, import.meta.url).pathname, 'utf8')

/** The failure of one export of one record through a pipeline to `endpoint`; the test fails if it does not throw. */
async function exportFailure(t: Test, endpoint: string): Promise<ExportError> {
  const pipeline = createExportPipeline(pipelineOptions(endpoint, { timeoutMs: 5000 }))
  t.teardown(() => pipeline.shutdown())
  const outcome = await pipeline.exportRecords([record(1)]).then(
    (report) => report,
    (e: unknown) => e,
  )
  if (!(outcome instanceof ExportError)) {
    t.fail(`expected an ExportError, got ${JSON.stringify(outcome)}`)
    return new ExportError('PSR_ERR_EXPORT_FAILED', '(none)')
  }
  return outcome
}

const SPEAKS_TLS = /the endpoint speaks TLS: use https:\/\/ in OTEL_EXPORTER_OTLP_ENDPOINT/

t.test('http:// endpoint, Node.js TLS server (it hangs up on plain HTTP): says the endpoint speaks TLS, holds the records', async (t) => {
  const server = https.createServer({ cert: fixture('tls/server.pem'), key: fixture('tls/server.key') }, (_req, res) => {
    res.writeHead(200, { 'content-length': 0 }).end()
  })
  let plainRequests = 0
  server.on('tlsClientError', () => plainRequests++)
  const lb = await listen(t, server)
  const started = Date.now()
  const e = await exportFailure(t, `http://127.0.0.1:${lb.port}/v1/logs`)
  t.match(e.message, SPEAKS_TLS)
  t.notMatch(e.message, /socket hang up/)
  t.equal(e.retryable, false, 'a misconfiguration: not retried by the exporter; the caller holds the cursor')
  t.equal(classifyFailure(e.cause), 'misconfigured')
  t.equal(plainRequests, 1, 'one plain HTTP attempt, no retries')
  t.ok(Date.now() - started < 10_000, 'finished')

  // A second export reuses the probe's answer.
  const again = await exportFailure(t, `http://127.0.0.1:${lb.port}/v1/logs`)
  t.match(again.message, SPEAKS_TLS)
})

t.test('http:// endpoint, Go-style TLS server (400 "Client sent an HTTP request to an HTTPS server."): not a data rejection', async (t) => {
  let connections = 0
  const server = net.createServer((socket) => {
    connections++
    socket.on('error', () => undefined)
    socket.once('data', () => {
      // Byte for byte what Go's net/http server writes before closing (server.go, tls.RecordHeaderError).
      socket.end('HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n')
    })
  })
  const lb = await listen(t, server)
  const e = await exportFailure(t, `http://127.0.0.1:${lb.port}/v1/logs`)
  t.match(e.message, SPEAKS_TLS)
  t.match(e.message, /400/)
  t.equal(e.retryable, false)
  t.equal(classifyFailure(e.cause), 'misconfigured', 'the records are held, not counted as rejected')
  t.equal(connections, 1)
})

t.test('http:// endpoint that resets connections but speaks no TLS: still a retryable network error', async (t) => {
  const srv = await serve(t, (req) => req.socket.destroy())
  const exporter = new OtlpHttpLogExporter({
    url: `http://127.0.0.1:${srv.port}/v1/logs`,
    protocol: 'http/protobuf',
    retry: { maxRetries: 0 },
  })
  t.teardown(() => exporter.shutdown())
  const result = await exporter.send([])
  const failure = result.error as OtlpExportFailure
  t.equal(failure.reason, 'network')
  t.equal(failure.errorCode, 'ECONNRESET')
  t.equal(classifyFailure(failure), 'transient')
})

/**
 * Outbound proxy (issue 12 item 3): a real forward proxy on loopback (CONNECT tunnels, absolute-form HTTP), the real
 * SIEM client and OTLP exporter through it, the proxy variables as the configuration reads them.
 */
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { TLSSocket } from 'node:tls'
import t from 'tap'
import type { Test } from 'tap'
import { describeConfig, loadConfig } from '../src/config/index.js'
import { ExportError, SiemNetworkError } from '../src/errors.js'
import { createExportPipeline } from '../src/export/index.js'
import type { ExportPipeline } from '../src/export/index.js'
import { OtlpHttpLogExporter } from '../src/export/otlp-http-exporter.js'
import { mapEvent } from '../src/mapping/index.js'
import type { MappedRecord } from '../src/mapping/index.js'
import { bypassesProxy, proxyFor } from '../src/proxy.js'
import { SiemClient } from '../src/siem/client.js'
import { EVENT_TYPES } from '../src/siem/types.js'
import type { JsonValue } from '../src/siem/types.js'
import { startSimulator } from '../src/simulator/index.js'
import { startForwardProxy } from './helpers/forward-proxy.js'
import { decodeLogRecords, startOtlpSink } from './helpers/otlp-sink.js'
import type { SinkRecord } from './helpers/otlp-sink.js'

const TLS_DIR = new URL('../../test/fixtures/tls/', import.meta.url)
const tlsPath = (name: string): string => fileURLToPath(new URL(name, TLS_DIR))
const FIXTURE = readFileSync(new URL('../../test/fixtures/siem-all-response.json', import.meta.url))
const PROXY_PASSWORD = 'pr0xy-PASSWORD-must-not-leak'
const SECRET = 'siem-SECRET-must-not-leak'

const WINDOW = { start: new Date('2026-11-24T11:00:00Z'), end: new Date('2026-11-24T12:00:00Z') }

t.test('NO_PROXY and the proxy variables: which proxy a URL goes through', async (t) => {
  const env = { HTTPS_PROXY: 'http://proxy.corp:3128', http_proxy: 'http://plain.corp:8080', NO_PROXY: '.internal.example, collector:4318, 10.1.2.3' }
  t.same(proxyFor('https://tap-api-v2.proofpoint.com', env), { url: 'http://proxy.corp:3128', from: 'HTTPS_PROXY' })
  t.same(proxyFor('http://collector.svc:4318/v1/logs', env), { url: 'http://plain.corp:8080', from: 'http_proxy' })
  t.equal(proxyFor('https://otel.internal.example/v1/logs', env), undefined, 'a .domain suffix')
  t.equal(proxyFor('http://collector:4318/v1/logs', env), undefined, 'host:port')
  t.ok(proxyFor('http://collector:4317/v1/logs', env), 'another port is proxied')
  t.equal(proxyFor('https://10.1.2.3/', env), undefined, 'an IP')
  t.same(proxyFor('https://x.example', { ...env, https_proxy: 'http://lower:1' }), { url: 'http://lower:1', from: 'https_proxy' }, 'lower case wins')
  t.same(proxyFor('https://x.internal.example', env, { url: 'http://explicit:1', from: 'PROOFPOINT_PROXY_URL' }), { url: 'http://explicit:1', from: 'PROOFPOINT_PROXY_URL' }, 'the explicit setting wins')
  t.ok(bypassesProxy(new URL('https://anything'), '*'))
  t.notOk(bypassesProxy(new URL('https://notinternal.example'), 'internal.example'), 'a suffix matches whole labels only')
  t.ok(bypassesProxy(new URL('https://a.internal.example'), 'internal.example'))
})

t.test('NO_PROXY: CIDR blocks and bare IPv6 addresses, as grpc-js and Go read them (cluster networks are listed so)', async (t) => {
  const env = { HTTP_PROXY: 'http://proxy.corp:3128', NO_PROXY: 'localhost,10.0.0.0/8,.svc,fd00::/8,::1' }
  t.equal(proxyFor('http://10.96.12.7:4317', env), undefined, 'a cluster IP in 10.0.0.0/8: direct')
  t.equal(proxyFor('http://[fd00::5]:4318', env), undefined, 'IPv6 CIDR')
  t.equal(proxyFor('http://[::1]:4318', env), undefined, 'a bare IPv6 address')
  t.equal(proxyFor('http://11.0.0.1:4317', env)?.url, 'http://proxy.corp:3128', 'outside the block: through the proxy')
  t.equal(proxyFor('http://[fe80::1]:4318', env)?.url, 'http://proxy.corp:3128')
  t.equal(proxyFor('http://collector.example:4318', { ...env, NO_PROXY: '10.0.0.0/8' })?.url, 'http://proxy.corp:3128', 'a block never matches a name')
  t.notOk(bypassesProxy(new URL('http://10.1.2.3'), '10.0.0.0/33'), 'a prefix past the family: ignored')
  t.ok(bypassesProxy(new URL('http://[::1]:4318'), '[::1]:4318'))
  t.notOk(bypassesProxy(new URL('http://[::1]:4318'), '[::1]:4317'), 'another port')
})

t.test('the configuration resolves both ends, checks the proxy URLs and never prints their credentials', async (t) => {
  const base = { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET: SECRET }
  const proxied = loadConfig({ env: { ...base, HTTPS_PROXY: `http://u:${PROXY_PASSWORD}@proxy.corp:3128`, OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example:4318' } })
  t.same(proxied.config.proofpoint.proxy, { url: `http://u:${PROXY_PASSWORD}@proxy.corp:3128`, from: 'HTTPS_PROXY' })
  t.same(proxied.config.otel.proxy?.from, 'HTTPS_PROXY')
  const explicit = loadConfig({ env: { ...base, PROOFPOINT_PROXY_URL: 'http://explicit.corp:3128', NO_PROXY: '*' } })
  t.equal(explicit.config.proofpoint.proxy?.from, 'PROOFPOINT_PROXY_URL', 'PROOFPOINT_PROXY_URL applies to the SIEM API whatever NO_PROXY says')
  t.equal(explicit.config.otel.proxy, undefined)
  const rows = JSON.stringify(describeConfig(proxied))
  t.match(rows, /proxy\.corp:3128 \(from HTTPS_PROXY\)/, 'check-config shows the proxy and where it came from')
  t.notMatch(rows, PROXY_PASSWORD, 'without its password')
  let message = ''
  try {
    loadConfig({ env: { ...base, PROOFPOINT_PROXY_URL: `http://u:${PROXY_PASSWORD}@bad host:1` } })
  } catch (err) {
    message = err instanceof Error ? err.message : String(err)
  }
  t.match(message, /PROOFPOINT_PROXY_URL: the value \(not shown/)
  t.notMatch(message, PROXY_PASSWORD)
})

t.test('the SIEM client goes through the proxy (CONNECT), with the proxy credentials sent to the proxy only', async (t) => {
  const proxy = await startForwardProxy(t, PROXY_PASSWORD)
  const sim = await startSimulator({ principal: 'p', secret: SECRET, now: () => WINDOW.end.getTime() + 60_000, eventsPerMinute: 3 })
  t.teardown(() => sim.close())
  const client = new SiemClient({ baseUrl: sim.url, principal: 'p', getSecret: () => SECRET, eventTypes: [...EVENT_TYPES], timeoutMs: 5000, proxy: proxy.url })
  t.teardown(() => client.close())
  const result = await client.fetchWindow(WINDOW)
  t.ok(result.events > 0, `${result.events} events through the proxy`)
  t.same(proxy.seen, [`CONNECT ${new URL(sim.url).host}`])
  t.equal(proxy.auth[0], `Basic ${Buffer.from(`user:${PROXY_PASSWORD}`).toString('base64')}`)
  t.equal(sim.requests.length, 1)
})

t.test('https behind the tunnel: PROOFPOINT_CA_FILE still checks the API certificate', async (t) => {
  const proxy = await startForwardProxy(t, PROXY_PASSWORD)
  const server = createHttpsServer({ key: readFileSync(tlsPath('server.key')), cert: readFileSync(tlsPath('server.pem')) }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(FIXTURE)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  const make = (ca: string | undefined): SiemClient => {
    const c = new SiemClient({ baseUrl, principal: 'p', getSecret: () => SECRET, eventTypes: [...EVENT_TYPES], timeoutMs: 5000, proxy: proxy.url, ca })
    t.teardown(() => c.close())
    return c
  }
  const ok = await make(readFileSync(tlsPath('ca.pem'), 'utf8')).fetchWindow(WINDOW)
  t.ok(ok.events > 0, 'the API answered through the tunnel')
  const err = await make(undefined).fetchWindow(WINDOW).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.type(err, SiemNetworkError, 'without the CA the certificate is refused behind the tunnel too')
  t.ok(proxy.seen.every((s) => s.startsWith('CONNECT 127.0.0.1:')), 'every request was tunnelled')
})

for (const mode of [407, 502, 'close'] as const) {
  t.test(`a proxy that refuses (${mode}): a clear retryable error naming the proxy, never a secret`, async (t) => {
    const proxy = await startForwardProxy(t, PROXY_PASSWORD)
    proxy.mode = mode
    const client = new SiemClient({ baseUrl: 'http://127.0.0.1:9', principal: 'p', getSecret: () => SECRET, eventTypes: [], timeoutMs: 2000, proxy: proxy.url })
    t.teardown(() => client.close())
    const err = await client.fetchWindow(WINDOW).then(
      () => undefined,
      (e: unknown) => e,
    )
    t.type(err, SiemNetworkError)
    const message = err instanceof Error ? err.message : ''
    t.match(message, /proxy http:\/\/\[redacted\]@127\.0\.0\.1:\d+/i, `names the proxy: ${message}`)
    if (mode !== 'close') t.match(message, new RegExp(`\\(${mode}\\)`))
    if (mode === 407) t.match(message, /wants credentials/)
    t.notMatch(message, PROXY_PASSWORD)
    t.notMatch(message, SECRET)
  })
}

t.test('the OTLP exporter goes through the proxy (absolute-form for http endpoints) and the collector gets the records', async (t) => {
  const proxy = await startForwardProxy(t, PROXY_PASSWORD)
  const sink = await startOtlpSink()
  t.teardown(() => sink.close())
  const exporter = new OtlpHttpLogExporter({ url: `${sink.url}/v1/logs`, protocol: 'http/protobuf', proxy: proxy.url, timeoutMillis: 5000 })
  t.teardown(() => exporter.shutdown())
  const result = await exporter.sendEncoded(Buffer.alloc(0))
  t.equal(result.status, 200)
  t.same(proxy.seen, [`${sink.url}/v1/logs`], 'the request went through the proxy')
  t.equal(sink.requests.length, 1)
})

t.test('OTLP/HTTP through a proxy that quotes our request back: its credentials are redacted from the message', async (t) => {
  const proxy = await startForwardProxy(t, PROXY_PASSWORD)
  proxy.mode = 'echo'
  const sink = await startOtlpSink()
  t.teardown(() => sink.close())
  // As check-config uses it: the exporter alone, without the pipeline's own redaction around it.
  const exporter = new OtlpHttpLogExporter({ url: `${sink.url}/v1/logs`, protocol: 'http/protobuf', proxy: proxy.url, timeoutMillis: 5000 })
  t.teardown(() => exporter.shutdown())
  const result = await exporter.sendEncoded(Buffer.alloc(0))
  const token = (proxy.auth[0] ?? '').replace(/^Basic /, '')
  t.ok(token.length > 8, 'the proxy got our Proxy-Authorization')
  const message = `${result.error?.message ?? ''} ${JSON.stringify(result.error)}`
  t.match(message, /403/, 'the answer is quoted')
  t.notMatch(message, token, 'never the Basic token made of the proxy credentials')
  t.notMatch(message, PROXY_PASSWORD, 'never the proxy password')
  t.equal(sink.requests.length, 0)
})

t.test('OTLP/HTTP through a proxy that answers 407 to the forwarded request: the proxy is named, not the collector', async (t) => {
  const proxy = await startForwardProxy(t, PROXY_PASSWORD)
  proxy.mode = 407
  const sink = await startOtlpSink()
  t.teardown(() => sink.close())
  const exporter = new OtlpHttpLogExporter({ url: `${sink.url}/v1/logs`, protocol: 'http/protobuf', proxy: proxy.url, timeoutMillis: 5000 })
  t.teardown(() => exporter.shutdown())
  const result = await exporter.sendEncoded(Buffer.alloc(0))
  const message = result.error?.message ?? ''
  t.match(message, /the proxy http:\/\/\[redacted\]@127\.0\.0\.1:\d+ answered 407 for 127\.0\.0\.1:\d+: it wants credentials.*; check HTTP_PROXY and NO_PROXY/)
  t.notMatch(message, /collector/, 'does not blame the collector')
  t.notMatch(message, PROXY_PASSWORD)
  t.equal(sink.requests.length, 0)
})

// OTLP/HTTP to an https collector through the CONNECT proxy: the CA, client certificate and key are applied to the
// TLS inside the tunnel (the exporter passes them per request to https-proxy-agent). Certificates: test/fixtures/tls.
const TLS_CA = readFileSync(tlsPath('ca.pem'), 'utf8')
const CLIENT_CN = 'proofpoint-siem-receiver test client'

/** The 12 events of the sample SIEM API response, mapped as the receiver does by default. */
function sampleRecords(): MappedRecord[] {
  const raw = JSON.parse(FIXTURE.toString('utf8')) as Record<string, JsonValue[]>
  return EVENT_TYPES.flatMap((type) => (raw[type] ?? []).map((e) => mapEvent(e, type, { attributeShape: 'flat', body: 'json' }, [1_790_000_000, 0])))
}

interface TlsCollector {
  url: string
  /** host:port, as a CONNECT to it names it. */
  host: string
  records: SinkRecord[]
  /** Subject CN of the client certificate of each accepted request ('' when none was presented). */
  clients: string[]
}

/** An OTLP/HTTP (protobuf) logs endpoint over https on 127.0.0.1 with the fixture server certificate. */
async function startTlsCollector(t: Test, opts: { requireClientCert?: boolean } = {}): Promise<TlsCollector> {
  const collector: TlsCollector = { url: '', host: '', records: [], clients: [] }
  const server = createHttpsServer(
    {
      key: readFileSync(tlsPath('server.key')),
      cert: readFileSync(tlsPath('server.pem')),
      ...(opts.requireClientCert ? { ca: TLS_CA, requestCert: true, rejectUnauthorized: true } : {}),
    },
    (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/v1/logs') return void res.writeHead(404).end()
        collector.records.push(...decodeLogRecords(Buffer.concat(chunks), 'protobuf'))
        const peer = (req.socket as TLSSocket).getPeerCertificate()
        collector.clients.push(typeof peer.subject?.CN === 'string' ? peer.subject.CN : '')
        res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' }).end()
      })
    },
  )
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  collector.host = `127.0.0.1:${(server.address() as AddressInfo).port}`
  collector.url = `https://${collector.host}/v1/logs`
  return collector
}

/** A pipeline built from these variables as app.ts builds it (the proxy from HTTPS_PROXY). */
function proxiedPipeline(t: Test, env: Record<string, string>): ExportPipeline {
  const { otel } = loadConfig({ env: { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET: SECRET, ...env } }).config
  t.ok(otel.proxy, 'the configuration routes the export through the proxy')
  const pipeline = createExportPipeline({
    endpoint: otel.logsEndpoint,
    protocol: otel.protocol,
    headers: otel.headers,
    compression: otel.compression,
    timeoutMs: otel.timeoutMs,
    serviceName: otel.serviceName,
    serviceVersion: '0.0.0-test',
    resourceAttributes: otel.resourceAttributes,
    ...(otel.tls ? { tls: otel.tls } : {}),
    ...(otel.proxy ? { proxy: otel.proxy.url } : {}),
  })
  t.teardown(() => pipeline.shutdown())
  return pipeline
}

/** The ExportError `promise` rejects with (fails the test when it resolves). */
async function exportError(t: Test, promise: Promise<unknown>): Promise<ExportError | undefined> {
  try {
    await promise
  } catch (err) {
    if (err instanceof ExportError) return err
    throw err
  }
  t.fail('expected an ExportError')
  return undefined
}

t.test('OTLP to an https collector through the proxy: a CONNECT tunnel, the records arrive, the proxy sees only TLS', async (t) => {
  const proxy = await startForwardProxy(t, PROXY_PASSWORD)
  const collector = await startTlsCollector(t)
  const pipeline = proxiedPipeline(t, { HTTPS_PROXY: proxy.url, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_CERTIFICATE: tlsPath('ca.pem') })
  const records = sampleRecords()
  const report = await pipeline.exportRecords(records)
  t.equal(report.records, records.length)
  t.same(
    collector.records.map((r) => r.attributes['log.record.uid']),
    records.map((r) => r.uid),
    'the collector decoded every record, in order',
  )
  t.same(proxy.seen, [`CONNECT ${collector.host}`], 'one CONNECT to the collector, no plain request')
  t.equal(proxy.auth[0], `Basic ${Buffer.from(`user:${PROXY_PASSWORD}`).toString('base64')}`, 'the proxy credentials went to the proxy')
  const tunnelled = Buffer.concat(proxy.tunnelled)
  t.equal(tunnelled[0], 0x16, 'the tunnel opened with a TLS handshake record')
  t.ok(tunnelled.length > 1000, `${tunnelled.length} bytes went through the tunnel`)
  for (const plain of ['POST /v1/logs', 'application/x-protobuf', records[0]?.uid ?? 'no uid', 'proofpoint']) {
    t.equal(tunnelled.indexOf(plain), -1, `the proxy never saw "${plain}"`)
  }
})

t.test('OTLP through the proxy: the collector certificate is still verified behind the tunnel', async (t) => {
  const proxy = await startForwardProxy(t, PROXY_PASSWORD)
  const collector = await startTlsCollector(t)
  const env = { HTTPS_PROXY: proxy.url, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: collector.url }
  const err = await exportError(t, proxiedPipeline(t, env).exportRecords(sampleRecords().slice(0, 2)))
  t.equal(err?.retryable, true)
  t.match(err?.message, /failed the TLS handshake \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/)
  t.match(err?.message, /OTEL_EXPORTER_OTLP_CERTIFICATE/, `tells the user what to set: ${err?.message}`)
  t.notMatch(err?.message, PROXY_PASSWORD)
  t.equal(collector.records.length, 0, 'nothing was accepted')
  t.ok(proxy.seen.length > 0 && proxy.seen.every((s) => s === `CONNECT ${collector.host}`), 'the refused handshake was inside the tunnel')

  const report = await proxiedPipeline(t, { ...env, OTEL_EXPORTER_OTLP_CERTIFICATE: tlsPath('ca.pem') }).exportRecords(sampleRecords().slice(0, 2))
  t.equal(report.records, 2, 'with the CA the same tunnel works')
  t.equal(collector.records.length, 2)
})

t.test('OTLP through the proxy: mutual TLS inside the tunnel presents the client certificate', async (t) => {
  const proxy = await startForwardProxy(t, PROXY_PASSWORD)
  const collector = await startTlsCollector(t, { requireClientCert: true })
  const pipeline = proxiedPipeline(t, {
    HTTPS_PROXY: proxy.url,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_CERTIFICATE: tlsPath('ca.pem'),
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: tlsPath('client.pem'),
    OTEL_EXPORTER_OTLP_CLIENT_KEY: tlsPath('client.key'),
  })
  const report = await pipeline.exportRecords(sampleRecords().slice(0, 3))
  t.equal(report.records, 3)
  t.equal(collector.records.length, 3)
  t.same(collector.clients, [CLIENT_CN], 'the collector saw our client certificate')
  t.same(proxy.seen, [`CONNECT ${collector.host}`])
})

/**
 * https-proxy-agent replays the proxy's refusal of the CONNECT as the answer to the POST: the exporter must tell the
 * two apart (the request's 'proxyConnect' event), so the message names the proxy, not the collector, and is retryable.
 */

t.test('OTLP through a proxy that answers 407 to the CONNECT: a retryable error naming the proxy, never its password', async (t) => {
  const proxy = await startForwardProxy(t, PROXY_PASSWORD)
  proxy.mode = 407
  const collector = await startTlsCollector(t)
  const pipeline = proxiedPipeline(t, {
    HTTPS_PROXY: proxy.url,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_CERTIFICATE: tlsPath('ca.pem'),
    OTEL_EXPORTER_OTLP_TIMEOUT: '3000',
  })
  const err = await exportError(t, pipeline.exportRecords(sampleRecords().slice(0, 1)))
  const message = err?.message ?? ''
  t.comment(`today: ${message}`)
  t.match(message, /\(407\)/, 'says what the proxy answered')
  t.notMatch(message, PROXY_PASSWORD, 'never the proxy password')
  t.notMatch(message, encodeURIComponent(PROXY_PASSWORD))
  t.equal(collector.records.length, 0, 'nothing reached the collector')
  t.ok(proxy.seen.length > 0 && proxy.seen.every((s) => s === `CONNECT ${collector.host}`), 'only CONNECTs to the collector')
  t.equal(err?.retryable, true, 'retryable')
  t.match(message, /proxy http:\/\/\[redacted\]@127\.0\.0\.1:\d+/i, 'names the proxy, its credentials redacted')
  t.notMatch(message, /^collector at \S+ rejected the export/, 'does not blame the collector')
})

/**
 * OTLP/HTTP export over https to a real TLS endpoint on 127.0.0.1: the CA from OTEL_EXPORTER_OTLP_CERTIFICATE,
 * mutual TLS from _CLIENT_CERTIFICATE/_CLIENT_KEY, and the attribute limits, each going from the configuration
 * through createExportPipeline to the wire. The certificates are committed test-only fixtures (test/fixtures/tls).
 */
import { readFileSync } from 'node:fs'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import t from 'tap'
import type { Test } from 'tap'
import { loadConfig } from '../../src/config/index.js'
import type { ReceiverConfig } from '../../src/config/index.js'
import { ExportError } from '../../src/errors.js'
import { createExportPipeline } from '../../src/export/index.js'
import type { ExportPipeline } from '../../src/export/index.js'
import { mapEvent } from '../../src/mapping/index.js'
import type { HrTime, MappedRecord } from '../../src/mapping/index.js'
import { EVENT_TYPES } from '../../src/siem/types.js'
import type { JsonValue } from '../../src/siem/types.js'
import { decodeLogRecords } from '../helpers/otlp-sink.js'
import type { SinkRecord } from '../helpers/otlp-sink.js'

// Tests run from dist/test; the fixtures stay in the source tree.
const fixturePath = (name: string): string => new URL(`../../../test/fixtures/${name}`, import.meta.url).pathname
const fixture = (name: string): string => readFileSync(fixturePath(name), 'utf8')
const CA_FILE = fixturePath('tls/ca.pem')
const CLIENT_CERT_FILE = fixturePath('tls/client.pem')
const CLIENT_KEY_FILE = fixturePath('tls/client.key')
const CA = fixture('tls/ca.pem')

const OBSERVED: HrTime = [1_790_000_000, 0]
/** The 12 events of the sample SIEM API response, mapped as the receiver does by default (flat attributes). */
function sampleRecords(): MappedRecord[] {
  const raw = JSON.parse(fixture('siem-all-response.json')) as Record<string, JsonValue[]>
  return EVENT_TYPES.flatMap((type) => (raw[type] ?? []).map((e) => mapEvent(e, type, { attributeShape: 'flat', body: 'json' }, OBSERVED)))
}

interface TlsCollector {
  url: string
  records: SinkRecord[]
  /** Subject CN of the client certificate of each accepted request ('' when none was presented). */
  clients: string[]
  /** TLS handshakes the server refused (tlsClientError). */
  refusedHandshakes: number
}

/** A minimal OTLP/HTTP (protobuf) logs endpoint over https on 127.0.0.1, closed when the test ends. */
async function startTlsCollector(t: Test, opts: { requireClientCert?: boolean } = {}): Promise<TlsCollector> {
  const collector: TlsCollector = { url: '', records: [], clients: [], refusedHandshakes: 0 }
  const server = https.createServer(
    {
      cert: fixture('tls/server.pem'),
      key: fixture('tls/server.key'),
      ...(opts.requireClientCert ? { ca: CA, requestCert: true, rejectUnauthorized: true } : {}),
    },
    (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/v1/logs') {
          res.writeHead(404).end()
          return
        }
        collector.records.push(...decodeLogRecords(Buffer.concat(chunks), 'protobuf'))
        const peer = (req.socket as TLSSocket).getPeerCertificate()
        collector.clients.push(typeof peer.subject?.CN === 'string' ? peer.subject.CN : '')
        res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' }).end()
      })
    },
  )
  server.on('tlsClientError', () => collector.refusedHandshakes++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  collector.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  return collector
}

/** The OTLP part of the configuration as the receiver loads it from these variables. */
function otelConfig(env: Record<string, string>): ReceiverConfig['otel'] {
  return loadConfig({ env: { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET: 's', ...env } }).config.otel
}

/** A pipeline built from the configuration exactly as app.ts builds it. */
function pipelineFor(t: Test, otel: ReceiverConfig['otel']): ExportPipeline {
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
    ...(otel.logRecordLimits ? { logRecordLimits: otel.logRecordLimits } : {}),
  })
  t.teardown(() => pipeline.shutdown())
  return pipeline
}

/** The ExportError `promise` rejects with (fails the test on anything else). */
async function exportError(t: Test, promise: Promise<unknown>): Promise<ExportError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof ExportError) return err
    throw err
  }
  t.fail('expected an ExportError')
  return new ExportError('PSR_ERR_EXPORT_MISCONFIGURED', 'none')
}

t.test('https with OTEL_EXPORTER_OTLP_CERTIFICATE: the collector is trusted and gets every record', async (t) => {
  const collector = await startTlsCollector(t)
  const otel = otelConfig({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_CERTIFICATE: CA_FILE })
  t.same(otel.tls, { ca: CA }, 'the CA file was read by the configuration')
  const records = sampleRecords()
  const report = await pipelineFor(t, otel).exportRecords(records)
  t.equal(report.records, records.length)
  t.equal(collector.records.length, records.length, 'the collector received every record')
  t.same(
    collector.records.map((r) => r.attributes['log.record.uid']),
    records.map((r) => r.uid),
  )
  // The flat mapping gives a message event about 40-50 attributes: the SDK default limit (128) drops none.
  t.equal(report.droppedAttributes, 0)
  t.ok(collector.records.every((r) => r.droppedAttributesCount === 0))
  t.ok(Math.max(...collector.records.map((r) => Object.keys(r.attributes).length)) < 128)
})

t.test('https without the CA: a TLS error that names the certificate setting', async (t) => {
  const collector = await startTlsCollector(t)
  const otel = otelConfig({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: collector.url })
  t.equal(otel.tls, undefined)
  const err = await exportError(t, pipelineFor(t, otel).exportRecords(sampleRecords().slice(0, 2)))
  // The exporter treats every network failure, TLS included, as retryable: the poller keeps the cursor and retries.
  t.equal(err.code, 'PSR_ERR_EXPORT_FAILED')
  t.equal(err.retryable, true)
  t.match(err.message, /failed the TLS handshake \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/)
  t.match(err.message, /certificate/i)
  t.match(err.message, /OTEL_EXPORTER_OTLP_CERTIFICATE/)
  t.equal(collector.records.length, 0, 'nothing was sent')
})

t.test('mutual TLS: the client certificate and key from the configuration are presented', async (t) => {
  const collector = await startTlsCollector(t, { requireClientCert: true })
  const otel = otelConfig({
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url.replace(/\/v1\/logs$/, ''),
    OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: CA_FILE,
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: CLIENT_CERT_FILE,
    OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY: CLIENT_KEY_FILE,
  })
  const records = sampleRecords().slice(0, 3)
  const report = await pipelineFor(t, otel).exportRecords(records)
  t.equal(report.records, 3)
  t.equal(collector.records.length, 3)
  t.same(collector.clients, ['proofpoint-siem-receiver test client'], 'the server saw our client certificate')
})

t.test('mutual TLS: without a client certificate the collector refuses the connection', async (t) => {
  const collector = await startTlsCollector(t, { requireClientCert: true })
  const otel = otelConfig({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_CERTIFICATE: CA_FILE, OTEL_EXPORTER_OTLP_TIMEOUT: '3000' })
  const err = await exportError(t, pipelineFor(t, otel).exportRecords(sampleRecords().slice(0, 1)))
  t.equal(err.code, 'PSR_ERR_EXPORT_FAILED')
  t.equal(err.retryable, true)
  t.match(err.message, /collector at https:\/\/127\.0\.0\.1:\d+\/v1\/logs /)
  // Under TLS 1.3 the refusal arrives as an alert after the handshake; should the request race it, a reset.
  t.match(err.message, /TLS handshake \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\)|ECONNRESET|EPIPE/)
  t.equal(collector.records.length, 0, 'nothing was accepted')
  t.ok(collector.refusedHandshakes >= 1, 'the server refused the handshake')
})

t.test('attribute limits from the configuration reach the records on the wire', async (t) => {
  const collector = await startTlsCollector(t)
  const otel = otelConfig({
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_CERTIFICATE: CA_FILE,
    OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '1000',
    OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT: '8',
    OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT: '5',
  })
  t.same(otel.logRecordLimits, { attributeValueLengthLimit: 8, attributeCountLimit: 5 })
  const records = sampleRecords().slice(0, 2)
  const report = await pipelineFor(t, otel).exportRecords(records)
  t.equal(collector.records.length, 2)
  for (const [i, r] of collector.records.entries()) {
    t.equal(Object.keys(r.attributes).length, 5, 'at most 5 attributes')
    t.equal(r.droppedAttributesCount, Object.keys(records[i]?.attributes ?? {}).length - 5, 'the rest counted as dropped')
    for (const value of Object.values(r.attributes)) if (typeof value === 'string') t.ok(value.length <= 8, 'strings cut to 8 characters')
  }
  t.ok(report.droppedAttributes > 0)
})

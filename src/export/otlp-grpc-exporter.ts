import http from 'node:http'
import { createRequire } from 'node:module'
import type * as GrpcJs from '@grpc/grpc-js'
import type { ChannelCredentials, ChannelOptions, Client, Metadata, ServiceError } from '@grpc/grpc-js'
import { errorCodeOf } from '../http-util.js'
import { redactUrl } from '../redact.js'
import { GrpcCode, grpcCodeName, isRetryableGrpcCode, retryInfoDelayMs } from './grpc-status.js'
import type { OtlpExportFailure } from './failure.js'
import { OtlpExporterBase, printable } from './otlp-exporter-base.js'
import type { Attempt, OtlpExporterBaseOptions } from './otlp-exporter-base.js'
import { SPEAKS_TLS, tlsProbe } from './tls-probe.js'
import { NAME } from '../version.js'

/**
 * grpc-js, loaded when the first gRPC exporter is made: it is a large module (about 300 ms to load), and every
 * receiver exporting over HTTP (the default) would pay that at each start.
 */
let grpcModule: typeof GrpcJs | undefined
function grpcJs(): typeof GrpcJs {
  grpcModule ??= createRequire(import.meta.url)('@grpc/grpc-js') as typeof GrpcJs
  return grpcModule
}

/** The one method OTLP/gRPC logs export calls (opentelemetry/proto/collector/logs/v1/logs_service.proto). */
export const LOGS_EXPORT_METHOD = '/opentelemetry.proto.collector.logs.v1.LogsService/Export'

/** grpc-js's value for gzip in 'grpc.default_compression_algorithm' (its CompressionAlgorithms enum). */
const GRPC_GZIP = 2

export interface OtlpGrpcLogExporterOptions extends OtlpExporterBaseOptions {
  /** http://host:port (plaintext, h2c) or https://host:port (TLS); no path: the method decides it. */
  url: string
  /** Where grpc-js's own log lines go (it writes them to stderr otherwise). */
  log?: (message: string) => void
}

/** Metadata keys gRPC or HTTP/2 own: a user header of that name is not sent. */
const OWN_KEYS = /^(content-type|content-length|te|host|connection|user-agent|grpc-.*|:.*)$/

/**
 * OTLP/gRPC over @grpc/grpc-js: the request is the same ExportLogsServiceRequest bytes the HTTP exporter sends (our
 * encoder), passed through identity serializers, so nothing is encoded twice and no .proto is loaded. Retries,
 * deadline, partial success and shutdown are the shared base's; this class turns one call's status into an attempt.
 */
export class OtlpGrpcLogExporter extends OtlpExporterBase {
  protected readonly format = 'protobuf' as const
  private readonly client: Client
  private readonly metadata: Metadata
  private readonly target: string
  private readonly url: URL
  /** http:// endpoints: whether a TLS server listens there, where grpc-js says only "Failed to connect". */
  private readonly speaksTls: () => Promise<boolean>
  private readonly proxy: URL | undefined
  private readonly active = new Set<(abort: OtlpExportFailure) => void>()

  constructor(opts: OtlpGrpcLogExporterOptions) {
    super(opts)
    const url = new URL(opts.url)
    this.url = url
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`OTLP/gRPC endpoint must be an http:// or https:// URL, got ${url.protocol}`)
    }
    if (url.pathname !== '/' && url.pathname !== '') {
      throw new TypeError('an OTLP/gRPC endpoint has no path (the method decides it): give scheme://host:port')
    }
    this.speaksTls = tlsProbe(url, this.timeoutMillis, 0)
    const port = url.port || (url.protocol === 'https:' ? '443' : '80')
    this.target = `${url.hostname}:${port}`
    this.metadata = new (grpcJs().Metadata)()
    for (const [name, value] of Object.entries(opts.headers ?? {})) {
      const key = name.toLowerCase()
      if (OWN_KEYS.test(key)) continue
      if (key.endsWith('-bin')) {
        throw new TypeError(`header ${JSON.stringify(name)}: gRPC sends keys ending in -bin as binary; OTEL_EXPORTER_OTLP_HEADERS cannot carry one`)
      }
      try {
        this.metadata.set(key, value)
      } catch {
        // Never quote the value: it may be a credential.
        throw new TypeError(`header ${JSON.stringify(name)} is not valid gRPC metadata (keys: 0-9 a-z _ . -; values: printable ASCII)`)
      }
    }
    const options: ChannelOptions = {
      'grpc.primary_user_agent': opts.userAgent ?? NAME,
      // The proxy is chosen by the receiver (HTTPS_PROXY/HTTP_PROXY/NO_PROXY in either case, as for OTLP/HTTP), not
      // by grpc-js's own reading of grpc_proxy/https_proxy/http_proxy (lower case only).
      'grpc.enable_http_proxy': 0,
      // A collector that was down is tried again within seconds of coming back (grpc-js waits up to 120 s by default).
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 5000,
      // Our encoder's requests stay under RECEIVER_EXPORT_MAX_BYTES; the collector's limit is its own (4 MiB default).
      'grpc.max_send_message_length': -1,
      // The answer is an ExportLogsServiceResponse: small. A server sending more is not an OTLP collector.
      'grpc.max_receive_message_length': 4 * 1024 * 1024,
    }
    if (opts.compression === 'gzip') options['grpc.default_compression_algorithm'] = GRPC_GZIP
    let address = this.target
    if (opts.proxy !== undefined) {
      const proxy = new URL(opts.proxy)
      if (proxy.protocol !== 'http:') {
        throw new TypeError(`the proxy ${redactUrl(opts.proxy)} is not an http:// proxy: grpc-js tunnels OTLP/gRPC through http:// proxies only`)
      }
      this.proxy = proxy
      address = `${proxy.hostname}:${proxy.port || '80'}`
      // grpc-js's CONNECT tunnel (its own proxy support, configured directly rather than from its environment).
      options['grpc.http_connect_target'] = `dns:${this.target}`
      if (proxy.username) {
        options['grpc.http_connect_creds'] = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
      }
    }
    routeGrpcLog(opts.log, (text) => this.redactor.redact(text))
    this.client = new (grpcJs().Client)(address, channelCredentials(url, opts.tls), options)
  }

  /** gRPC compresses the message itself (its compressed flag), so the body is the encoded request. */
  protected prepareBody(raw: Buffer): Promise<Buffer> {
    return Promise.resolve(raw)
  }

  protected abortAttempts(abort: OtlpExportFailure): void {
    for (const cancel of this.active) cancel(abort)
  }

  protected closeTransport(): void {
    this.client.close()
  }

  protected attempt(body: Buffer, timeoutMs: number): Promise<Attempt> {
    return new Promise<Attempt>((resolve) => {
      let settled = false
      let aborted: OtlpExportFailure | undefined
      const settle = (a: Attempt): void => {
        if (settled) return
        settled = true
        this.active.delete(cancel)
        resolve(a)
      }
      const identity = (b: Buffer): Buffer => b
      const call = this.client.makeUnaryRequest(
        LOGS_EXPORT_METHOD,
        identity,
        identity,
        body,
        this.metadata,
        { deadline: Date.now() + timeoutMs },
        (err: ServiceError | null, response?: Buffer) => {
          if (aborted) return settle({ ok: false, retry: false, failure: { reason: 'aborted', message: aborted.message } })
          if (!err) return settle({ ok: true, body: response ?? Buffer.alloc(0), complete: true })
          if (contentType !== undefined && !/^application\/grpc/i.test(contentType)) {
            // An HTTP/2 server that is not gRPC (a web server, an ingress's default page): grpc-js reads its page as a
            // gRPC frame ("html" as a length of 1.7 GB) and fails the call RESOURCE_EXHAUSTED, which must not be taken
            // for a collector refusing the records as too large. Not retried at once; the caller holds the records.
            const failure = { reason: 'misconfigured' as const, message: `${SPEAKS_NO_GRPC} (it answered ${printable(contentType)})`, grpcCode: err.code }
            return settle({ ok: false, retry: false, failure })
          }
          void this.failure(err, timeoutMs).then(settle)
        },
      )
      let contentType: string | undefined
      call.on('metadata', (metadata: Metadata) => {
        const value = metadata.get('content-type')[0]
        // Absent: not evidence either way.
        contentType = typeof value === 'string' && value !== '' ? value : undefined
      })
      const cancel = (failure: OtlpExportFailure): void => {
        aborted = failure
        call.cancel()
      }
      this.active.add(cancel)
    })
  }

  /** One failed call as an attempt: which reason, whether to try again, what to quote. */
  private async failure(err: ServiceError, timeoutMs: number): Promise<Attempt> {
    const code: number = err.code
    // grpc-js appends a timestamp and an (often empty) resolver note to connection failures.
    const details = printable(
      this.redactor.redact((err.details ?? '').replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/g, '').replace(/\.?\s*Resolution note:\s*$/, '')),
    )
    const statusDetails = err.metadata?.get('grpc-status-details-bin')[0]
    const retryAfterMs = retryInfoDelayMs(typeof statusDetails === 'string' ? undefined : statusDetails)
    const retry = isRetryableGrpcCode(code, retryAfterMs !== undefined)
    if (code === GrpcCode.DEADLINE_EXCEEDED) {
      return { ok: false, retry, failure: { reason: 'timeout', message: `no answer within ${timeoutMs} ms`, grpcCode: code } }
    }
    if (code === GrpcCode.UNAVAILABLE && /No connection established|Failed to connect|Connection dropped/i.test(err.details ?? '')) {
      // Never connected: a network failure, named like the HTTP exporter's (ECONNREFUSED, ENOTFOUND, a TLS code...).
      const errorCode = connectionErrorCode(err.details ?? '')
      const message = this.proxy ? `${details}${await this.proxyVerdict()}` : details
      if (this.url.protocol === 'http:' && !this.proxy && (await this.speaksTls())) {
        // Not retried: every attempt would fail the same way. The caller holds the records until it is fixed.
        return { ok: false, retry: false, failure: { reason: 'misconfigured', message: SPEAKS_TLS, grpcCode: code } }
      }
      if (/Protocol error|no application protocol/i.test(err.details ?? '')) {
        // An HTTP/1 server; over TLS, one that offers no HTTP/2 (ALPN alert 120: nginx or an ingress without http2).
        return { ok: false, retry: false, failure: { reason: 'misconfigured', message: SPEAKS_NO_GRPC, grpcCode: code, responseText: details } }
      }
      return { ok: false, retry, failure: { reason: 'network', message, grpcCode: code, errorCode } }
    }
    const message = `collector answered ${grpcCodeName(code)}${details ? `: ${details}` : ''}`
    return { ok: false, retry, failure: { reason: 'grpc', message, grpcCode: code, retryAfterMs, responseText: details } }
  }

  /**
   * grpc-js says only "No connection established" when the proxy refuses the tunnel: ask the proxy ourselves (a
   * CONNECT that is closed at once) so the message can say what it answered.
   */
  private proxyVerdict(): Promise<string> {
    const proxy = this.proxy!
    const name = redactUrl(proxy.href)
    return new Promise((resolve) => {
      const headers: Record<string, string> = { host: this.target }
      if (proxy.username) {
        const creds = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
        headers['proxy-authorization'] = `Basic ${Buffer.from(creds).toString('base64')}`
      }
      const req = http.request({ host: proxy.hostname, port: Number(proxy.port || 80), method: 'CONNECT', path: this.target, headers, timeout: 2000 })
      const done = (text: string): void => {
        req.destroy()
        resolve(text)
      }
      req.on('connect', (res, socket) => {
        socket.destroy()
        const s = res.statusCode ?? 0
        if (s === 200) done(` (through the proxy ${name}, which opens the tunnel: the collector is not answering behind it)`)
        else if (s === 407) done(` (the proxy ${name} answered 407 to CONNECT ${this.target}: check the credentials in the proxy URL)`)
        else done(` (the proxy ${name} answered ${s} to CONNECT ${this.target})`)
      })
      req.on('timeout', () => done(` (the proxy ${name} did not answer a CONNECT within 2 s)`))
      req.on('error', (e) => done(` (the proxy ${name} could not be reached: ${errorCodeOf(e) ?? e.message})`))
      req.end()
    })
  }
}

/** The message for a gRPC endpoint where an HTTP/1 server (an OTLP/HTTP port, a web server) or a non-gRPC HTTP/2 server answers. */
const SPEAKS_NO_GRPC =
  'the endpoint does not speak gRPC (HTTP/2): OTLP/gRPC is usually port 4317 and OTLP/HTTP 4318; check OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_PROTOCOL'

/** The Node error code grpc-js quotes in "Last error: Error: connect ECONNREFUSED ..." (or a TLS code). */
function connectionErrorCode(details: string): string | undefined {
  const m = /\b(E[A-Z]{3,}|CERT_[A-Z_]+|UNABLE_TO_[A-Z_]+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_[A-Z_]+|ERR_SSL_[A-Z_]+)\b/.exec(details)
  if (m) return m[1]
  for (const [text, code] of TLS_TEXTS) if (text.test(details)) return code
  return undefined
}

/** grpc-js quotes a TLS failure by its OpenSSL text only: the Node code that goes with it. */
const TLS_TEXTS: ReadonlyArray<[RegExp, string]> = [
  [/wrong version number|ssl3_get_record|packet length too long/i, 'EPROTO'],
  [/Hostname\/IP does not match|altnames/i, 'ERR_TLS_CERT_ALTNAME_INVALID'],
  [/unable to verify the first certificate/i, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  [/unable to get local issuer certificate/i, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
  [/self[- ]signed certificate in certificate chain/i, 'SELF_SIGNED_CERT_IN_CHAIN'],
  [/self[- ]signed certificate/i, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
  [/certificate has expired/i, 'CERT_HAS_EXPIRED'],
  [/certificate is not yet valid/i, 'CERT_NOT_YET_VALID'],
  [/alert|handshake failure/i, 'ERR_SSL_TLSV1_ALERT'],
]

function channelCredentials(url: URL, tls: OtlpGrpcLogExporterOptions['tls']): ChannelCredentials {
  const { credentials } = grpcJs()
  if (url.protocol === 'http:') return credentials.createInsecure()
  const buf = (v: string | Buffer | undefined): Buffer | null => (v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v))
  return credentials.createSsl(buf(tls?.ca), buf(tls?.key), buf(tls?.cert))
}

let grpcLogRoute: ((message: string) => void) | undefined
/**
 * grpc-js logs through one process-wide logger (stderr by default, its errors only). The latest exporter's route
 * wins; lines are redacted by that exporter's redactor.
 */
function routeGrpcLog(log: ((message: string) => void) | undefined, redact: (text: string) => string): void {
  grpcLogRoute = log === undefined ? undefined : (message) => log(redact(message))
  const { setLogVerbosity, setLogger, logVerbosity } = grpcJs()
  setLogVerbosity(logVerbosity.ERROR)
  setLogger({
    error: (...args: unknown[]) => grpcLogRoute?.(args.map(String).join(' ')),
  })
}

/**
 * Whether a TLS server listens where an http:// endpoint points: a collector that speaks only TLS hangs up on plain
 * HTTP (or gRPC) without a word, and both transports ask before calling that a network error.
 */
import net from 'node:net'
import tls from 'node:tls'
import { errorCodeOf } from '../http-util.js'

/** At most (and never longer than the export may): a server that swallows the ClientHello does not speak TLS. */
const TLS_PROBE_TIMEOUT_MS = 2000

/** The message for an http:// endpoint where a TLS server listens. */
export const SPEAKS_TLS =
  'the endpoint speaks TLS: use https:// in OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, whichever is set), and OTEL_EXPORTER_OTLP_CERTIFICATE for a private CA'

/** Codes of a server certificate that verification refused: only a TLS server sends a certificate. */
const CERTIFICATE_REFUSED = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)/

/**
 * A probe of the URL's host and port: resolves true when a TLS server answers (a handshake or an alert). A yes is kept
 * for good, a no for `noTtlMs`; then the next call asks again.
 */
export function tlsProbe(url: URL, exportTimeoutMs: number, noTtlMs: number): () => Promise<boolean> {
  let last: { at: number; result: Promise<boolean>; yes?: boolean } | undefined
  return () => {
    if (last && (last.yes !== false || Date.now() - last.at < noTtlMs)) return last.result
    const probe: NonNullable<typeof last> = { at: Date.now(), result: probeTls(url, Math.min(TLS_PROBE_TIMEOUT_MS, exportTimeoutMs)) }
    void probe.result.then((yes) => {
      probe.yes = yes
    })
    last = probe
    return probe.result
  }
}

function probeTls(url: URL, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
    const port = Number(url.port || 80)
    let done = false
    const finish = (yes: boolean): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(yes)
    }
    // Verification stays on (never switched off anywhere): a certificate it refuses was still sent by a TLS server.
    const socket = tls.connect({
      host,
      port,
      ...(net.isIP(host) === 0 ? { servername: host } : {}),
    })
    const timer = setTimeout(() => finish(false), timeoutMs)
    timer.unref()
    socket.on('secureConnect', () => finish(true))
    socket.on('error', (err: Error) => {
      // A TLS alert (handshake failure, certificate required, protocol version...) is a TLS server talking.
      const code = errorCodeOf(err) ?? ''
      finish(/^ERR_SSL_.*ALERT/.test(code) || /alert/i.test(err.message) || CERTIFICATE_REFUSED.test(code))
    })
    socket.on('close', () => finish(false))
  })
}

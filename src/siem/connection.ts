/**
 * One keep-alive connection to the SIEM API origin, directly or through a forward proxy, and the authenticated GET.
 * Redirects are not followed: the credentials go to PROOFPOINT_BASE_URL's origin and nowhere else. Timeouts are idle
 * timeouts, so a large window that keeps arriving is not cut off, but a server that stops sending is.
 */
import { Pool, ProxyAgent } from 'undici'
import type { Dispatcher } from 'undici'
import { SiemNetworkError } from '../errors.js'
import { Redactor, redactUrl } from '../redact.js'
import { NAME } from '../version.js'
import { PROXY_HINT, transportError } from './answer-errors.js'
import type { ErrorContext } from './answer-errors.js'
import type { SiemClientOptions } from './client.js'

type ConnectionOptions = Pick<SiemClientOptions, 'principal' | 'getSecret' | 'timeoutMs' | 'ca' | 'dispatcher' | 'proxy'>

export class SiemConnection {
  readonly proxyShown: string | undefined
  private readonly proxyUrl: string | undefined
  private dispatcher: Dispatcher
  /** Builds a fresh proxy agent: one whose tunnel never opened is destroyed (see send). */
  private readonly makeProxyAgent: (() => Dispatcher) | undefined
  private closing: Promise<void> | undefined

  constructor(readonly origin: string, private readonly opts: ConnectionOptions) {
    const { timeoutMs, ca, proxy } = opts
    const connection = { connections: 1, pipelining: 1, keepAliveTimeout: 30_000, connectTimeout: timeoutMs, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }
    if (opts.dispatcher) {
      this.dispatcher = opts.dispatcher
    } else if (proxy !== undefined) {
      this.proxyUrl = proxy
      this.proxyShown = redactUrl(proxy)
      this.makeProxyAgent = () =>
        new ProxyAgent({ uri: proxy, ...connection, proxyTls: { timeout: timeoutMs }, requestTls: { timeout: timeoutMs, ...(ca !== undefined ? { ca } : {}) } })
      this.dispatcher = this.makeProxyAgent()
    } else {
      this.dispatcher = new Pool(origin, { ...connection, ...(ca !== undefined ? { connect: { ca } } : {}) })
    }
  }

  /** GETs `path` with the secret of the moment (a rotated secret file is used without a restart); `ctx` is for the errors of its answer. */
  async send(path: string, signal: AbortSignal | undefined): Promise<{ res: Dispatcher.ResponseData; ctx: ErrorContext }> {
    const { principal, timeoutMs } = this.opts
    const secret = this.opts.getSecret()
    // The secret and its Basic token, also JSON-escaped or percent-encoded, in any text quoted from the answer.
    const redactor = new Redactor().addBasicCredentials(principal, secret)
    // The proxy's credentials go to the proxy only, and into no message.
    if (this.proxyUrl !== undefined) redactor.addUrl(this.proxyUrl)
    const ctx: ErrorContext = { origin: this.origin, principal, proxyShown: this.proxyShown, timeoutMs, signal, redact: (s) => redactor.redact(s) }

    // Through a proxy undici keeps reconnecting when the proxy hangs up on the CONNECT, and headersTimeout does not
    // run before the tunnel exists: bound the wait for the answer's headers ourselves (disarmed once they arrive).
    // It does not stop for an abort either (a stop would wait for the deadline): on either, the agent is destroyed and
    // replaced.
    const tunnel = this.makeProxyAgent === undefined ? undefined : new AbortController()
    let tunnelTimer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    const tunnelDeadline = new Promise<never>((_resolve, reject) => {
      if (!tunnel || !this.makeProxyAgent) return
      const make = this.makeProxyAgent
      const unstick = (reason: Error): void => {
        if (tunnel.signal.aborted) return
        tunnel.abort()
        const stuck = this.dispatcher
        this.dispatcher = make()
        void stuck.destroy().catch(() => undefined)
        reject(reason)
      }
      tunnelTimer = setTimeout(() => unstick(new Error('no answer through the proxy in time')), timeoutMs)
      if (signal) {
        // The caller's abort reason is what the request rejects with (transportError).
        onAbort = () => unstick(new Error('aborted while waiting for the proxy'))
        signal.addEventListener('abort', onAbort, { once: true })
      }
    })
    tunnelDeadline.catch(() => undefined)
    try {
      const request = this.dispatcher.request({
        origin: this.origin,
        path,
        method: 'GET',
        headers: {
          authorization: `Basic ${Buffer.from(`${principal}:${secret}`, 'utf8').toString('base64')}`,
          accept: 'application/json',
          'accept-encoding': 'gzip, deflate, br',
          'user-agent': NAME,
        },
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      })
      // Lost to the deadline, it rejects later (its agent destroyed): that is no one's error.
      if (tunnel) request.catch(() => undefined)
      return { res: tunnel ? await Promise.race([request, tunnelDeadline]) : await request, ctx }
    } catch (err) {
      if (tunnel?.signal.aborted && !signal?.aborted) {
        const why = 'the proxy closed the connection, refused the tunnel or does not answer'
        throw new SiemNetworkError(`no answer from ${this.origin} through the proxy ${this.proxyShown ?? ''} within ${timeoutMs} ms: ${why}; ${PROXY_HINT}`, err)
      }
      throw transportError(ctx, err)
    } finally {
      clearTimeout(tunnelTimer)
      if (onAbort) signal?.removeEventListener('abort', onAbort)
    }
  }

  close(): Promise<void> {
    if (this.opts.dispatcher) return Promise.resolve()
    this.closing ??= this.dispatcher.close()
    return this.closing
  }
}

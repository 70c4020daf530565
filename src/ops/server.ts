import { createHash, timingSafeEqual } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { LogController, type ConnectionError, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify'
import type { Logger } from 'pino'
import { ConfigError } from '../errors.js'
import { monotonicNow } from '../siem/api-clock.js'
import type { ReceiverStatus } from '../status.js'
import { renderStatusPage } from './page.js'

/** What `GET /metrics` serves: the Prometheus registry's exposition (ReceiverMetrics). */
export interface MetricsSource {
  /** The exposition format's content type, e.g. `text/plain; version=0.0.4; charset=utf-8`. */
  readonly contentType: string
  render(): Promise<string>
}

export interface OpsServerDeps {
  status: ReceiverStatus
  /** epoch ms; `Date.now` by default */
  now?: () => number
  /** The monotonic clock liveness is measured on (ReceiverStatus.progress); `monotonicNow` by default. */
  monotonic?: () => number
  /** the receiver's pino logger (a child is used), or `false` (the default) for none */
  logger?: Logger | false
  /** Serves `GET /metrics` when given; without it, `/metrics` is a 404 like any unknown path. */
  metrics?: MetricsSource
  /**
   * RECEIVER_HTTP_AUTH_TOKEN_FILE's token: when given, `/status`, `/metrics` and `/` need `Authorization: Bearer
   * <token>`; `/healthz` and `/readyz` stay open (the kubelet's probes send no credentials). Never logged.
   */
  authToken?: string
  /** How long a connection may stay idle (nothing sent yet, or between keep-alive requests); OPS_IDLE_TIMEOUT_MS by default. */
  idleTimeoutMs?: number
}

/** The routes always served, for the 404 answer and docs; `/metrics` is added when metrics are given. */
export const OPS_ROUTES = ['/', '/healthz', '/readyz', '/status'] as const

/**
 * Sent with every answer. The status page has no script and no external asset: nothing may load, run or frame it.
 * Harmless on the JSON and text answers, so they get them too.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
}

/** After this long, `closeOpsServer` drops the connections still open instead of waiting for them. */
export const DEFAULT_CLOSE_GRACE_MS = 2000

const METHODS_NOT_ALLOWED = ['DELETE', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const

/** No route takes a body; a request that announces a bigger one than this is refused before any of it is read. */
export const OPS_BODY_LIMIT = 1024
/** The whole request (headers and body) must arrive within this long, so slow senders cannot hold sockets open. */
export const OPS_REQUEST_TIMEOUT_MS = 10_000
/**
 * A connection with nothing to do for this long is closed: one that never sends a request, or sits idle between
 * keep-alive requests (each would otherwise hold a socket and a file descriptor). Node's own keep-alive default;
 * shorter than any usual probe or scrape period, so a kept-alive connection is closed while idle, not as it is reused.
 */
export const OPS_IDLE_TIMEOUT_MS = 5_000
/**
 * After answering a request that cannot be parsed (431: headers over node's 16 KiB; 400; 408), the connection is
 * half-closed and what the client is still sending is read and dropped for at most this long (and at most
 * OPS_ERROR_DRAIN_BYTES), then it is closed. Closing at once with unread data makes the kernel send a reset,
 * and a client still writing its request then gets ECONNRESET instead of the answer.
 */
export const OPS_ERROR_DRAIN_MS = 1_000
export const OPS_ERROR_DRAIN_BYTES = 1024 * 1024

/** The answers to requests node's parser refuses (Fastify's clientErrorHandler), by error code; 400 otherwise. */
const CLIENT_ERRORS: Readonly<Record<string, { code: number; message: string }>> = {
  HPE_HEADER_OVERFLOW: { code: 431, message: 'request line and headers are over 16 KiB' },
  ERR_HTTP_REQUEST_TIMEOUT: { code: 408, message: 'the request did not arrive in time' },
}

/**
 * Answers a request the parser refused, then drains: `Connection: close`, the answer, a FIN, and the rest of what the
 * client sends is dropped for a bounded time (see OPS_ERROR_DRAIN_MS) so the client can read the answer.
 */
function clientErrorHandler(): (err: ConnectionError, socket: Socket) => void {
  /** Sockets being drained, with their bytesRead when draining began. */
  const draining = new WeakMap<Socket, number>()
  return (err, socket) => {
    const began = draining.get(socket)
    if (began !== undefined) {
      // The parser stays in its error state and reports each further chunk again: only the byte bound applies.
      if (socket.bytesRead - began > OPS_ERROR_DRAIN_BYTES) socket.destroy()
      return
    }
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    if (!socket.writable) {
      socket.destroy()
      return
    }
    const { code, message } = CLIENT_ERRORS[err.code] ?? { code: 400, message: 'malformed request' }
    const body = JSON.stringify({ statusCode: code, error: STATUS_CODES[code] ?? 'Bad Request', message })
    const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close', 'cache-control': 'no-store', ...SECURITY_HEADERS }
    const head = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('')
    draining.set(socket, socket.bytesRead)
    const timer = setTimeout(() => socket.destroy(), OPS_ERROR_DRAIN_MS)
    timer.unref()
    socket.once('close', () => clearTimeout(timer))
    socket.on('data', () => {
      if (socket.bytesRead - (draining.get(socket) ?? 0) > OPS_ERROR_DRAIN_BYTES) socket.destroy()
    })
    socket.end(`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}\r\n${head}\r\n${body}`)
    socket.resume()
  }
}
/** The routes that show tenant activity and so need the bearer token when one is configured. */
export const PROTECTED_ROUTES: readonly string[] = ['/', '/status', '/metrics']

/** Fixed-length digests, so `timingSafeEqual` compares equal-length buffers and the token's length does not leak. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), or undefined. */
function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const m = /^Bearer[ ]+([^ ].*)$/i.exec(header.trim())
  return m?.[1]?.trim()
}

/** Whether the request carries (or announces) a body. */
function hasBody(headers: Record<string, string | string[] | undefined>): boolean {
  if (headers['transfer-encoding'] !== undefined) return true
  const length = Number(headers['content-length'] ?? 0)
  return !(Number.isFinite(length) && length === 0)
}

/**
 * The ops server: `GET /` (the status page for people, HTML), `GET /healthz` (liveness), `GET /readyz`
 * (readiness), `GET /status` (JSON snapshot), `GET /metrics` (Prometheus, when `deps.metrics` is given). Built,
 * not listening: `main` calls `app.listen({ host: RECEIVER_HTTP_HOST, port: RECEIVER_HTTP_PORT })`.
 *
 * Shutting down: call {@link closeOpsServer}, or `app.close()`. Fastify `close()` alone can wait ~72 s (the
 * keep-alive timeout) for a keep-alive connection that was busy when closing began (design §6). So once
 * closing starts, every response carries `connection: close` (an `onSend` hook; requests arriving after it
 * get Fastify's 503 with `connection: close` too, `return503OnClosing`), idle connections are closed
 * (`forceCloseConnections: 'idle'`), and `closeOpsServer` drops whatever is still open after a grace period.
 */
export function buildOpsServer(deps: OpsServerDeps): FastifyInstance {
  const { status, metrics } = deps
  const expected = deps.authToken !== undefined && deps.authToken !== '' ? digest(deps.authToken) : undefined
  const routes: readonly string[] = metrics ? [...OPS_ROUTES, '/metrics'] : OPS_ROUTES
  const now = deps.now ?? Date.now
  // Tests that give one clock give it for both.
  const monotonic = deps.monotonic ?? deps.now ?? monotonicNow
  const logger: FastifyBaseLogger | undefined = deps.logger ? deps.logger.child({ component: 'ops-server' }) : undefined
  const app: FastifyInstance = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    // Kubernetes probes every few seconds: logging each request would drown the receiver's own logs.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    bodyLimit: OPS_BODY_LIMIT,
    requestTimeout: OPS_REQUEST_TIMEOUT_MS,
    // Idle connections: an inactivity timeout on every socket (nothing sent yet, or a request waiting), and the
    // same bound between keep-alive requests; node destroys the socket when it passes.
    connectionTimeout: deps.idleTimeoutMs ?? OPS_IDLE_TIMEOUT_MS,
    keepAliveTimeout: deps.idleTimeoutMs ?? OPS_IDLE_TIMEOUT_MS,
    clientErrorHandler: clientErrorHandler(),
    exposeHeadRoutes: true,
    // A URL the router cannot decode (`/%`, `/%E0%A4%A`): Fastify's own answer repeats the URL; this one does not,
    // and it carries the usual headers. (Header and URL length: node's 16 KiB maxHeaderSize answers 431.)
    frameworkErrors: (_err, _req, generic) => {
      // The option's generic reply type cannot take a status code; it is a plain FastifyReply at run time.
      const reply = generic as unknown as FastifyReply
      // Answered before the hooks run, so the headers are set here.
      void reply
        .code(400)
        .header('cache-control', 'no-store')
        .headers(SECURITY_HEADERS)
        .send({ statusCode: 400, error: 'Bad Request', message: 'malformed request URL' })
    },
  })

  const notFound = { statusCode: 404, error: 'Not Found', message: `no such route; this server has ${routes.join(', ')}` }
  const methodNotAllowed = { statusCode: 405, error: 'Method Not Allowed', message: 'use GET or HEAD' }

  let closing = false
  app.addHook('preClose', (done) => {
    closing = true
    done()
  })
  app.addHook('onSend', async (_req, reply, payload) => {
    void reply.header('cache-control', 'no-store')
    void reply.headers(SECURITY_HEADERS)
    if (closing) void reply.header('connection', 'close')
    return payload
  })

  // Before routing's later stages and before any body is read: a method no route takes is 405 (404 off the routes),
  // a body on GET/HEAD larger than OPS_BODY_LIMIT is 413, and a protected route without the token is 401. When the
  // request has a body, the connection is closed after the answer, so the rest of the body is never read.
  app.addHook('onRequest', async (req, reply) => {
    // The route the router matched (undefined for the 404 handler): never the raw URL, which may be absolute-form
    // (`GET http://host/status`) or otherwise spelled differently from the route it reaches.
    const route: string | undefined = req.routeOptions.url
    const known = route !== undefined && routes.includes(route)
    const body = hasBody(req.headers)
    if (body) void reply.header('connection', 'close')
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // A method no route is registered for (TRACE, ...) reaches the 404 handler: still 405 on a route's path.
      const q = req.url.indexOf('?')
      if (!known && !routes.includes(q === -1 ? req.url : req.url.slice(0, q))) return reply.code(404).send(notFound)
      return reply.code(405).header('allow', 'GET, HEAD').send(methodNotAllowed)
    }
    if (body) {
      const length = Number(req.headers['content-length'] ?? Infinity)
      if (!(length <= OPS_BODY_LIMIT)) {
        return reply.code(413).send({ statusCode: 413, error: 'Payload Too Large', message: 'these routes take no body' })
      }
    }
    if (expected && known && PROTECTED_ROUTES.includes(route)) {
      const given = bearerToken(req.headers.authorization)
      // Compare digests of equal length in constant time; `ok` is computed even without a token.
      const ok = timingSafeEqual(digest(given ?? ''), expected) && given !== undefined
      if (!ok) {
        const challenge = given === undefined ? 'Bearer realm="proofpoint-siem-receiver"' : 'Bearer realm="proofpoint-siem-receiver", error="invalid_token"'
        return reply
          .code(401)
          .header('www-authenticate', challenge)
          .send({ statusCode: 401, error: 'Unauthorized', message: 'this route needs Authorization: Bearer <RECEIVER_HTTP_AUTH_TOKEN_FILE token>' })
      }
    }
    return undefined
  })

  app.get('/healthz', async (_req, reply) => {
    const live = status.liveness(monotonic())
    if (live.alive) return { status: 'ok' }
    return reply.code(503).send({ status: 'unhealthy', reason: live.reason })
  })

  app.get('/readyz', async (_req, reply) => {
    const r = status.readiness(now())
    if (r.ready) return { status: 'ready' }
    return reply.code(503).send({ status: 'not ready', reasons: r.reasons })
  })

  app.get('/status', (_req, reply) => reply.send(status.snapshot(now())))

  app.get('/', (_req, reply) => {
    const at = now()
    const page = renderStatusPage(status.snapshot(at), status.readiness(at), at, status.liveness(monotonic()))
    return reply.type('text/html; charset=utf-8').send(page)
  })

  if (metrics) {
    app.get('/metrics', async (_req, reply) => {
      const text = await metrics.render()
      return reply.type(metrics.contentType).send(text)
    })
  }

  for (const url of routes) {
    app.route({
      method: [...METHODS_NOT_ALLOWED],
      url,
      // Normally answered by the onRequest hook already; kept so the router knows these methods exist.
      handler: (_req, reply) => reply.code(405).header('allow', 'GET, HEAD').send(methodNotAllowed),
    })
  }

  app.setNotFoundHandler(async (_req, reply) => reply.code(404).send(notFound))

  // Never a stack trace or an internal message in a response: client errors (bad request framing, a body
  // where none is expected) get Fastify's own short message, anything else a generic 500, logged here.
  app.setErrorHandler(async (err: FastifyError, req, reply) => {
    const code = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
    if (code === 500) {
      req.log.error({ err: { code: err.code, message: err.message, stack: err.stack } }, 'ops server request failed')
      return reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', message: 'internal error; see the receiver log' })
    }
    const message = typeof err.code === 'string' && err.code.startsWith('FST_') ? err.message : 'bad request'
    return reply.code(code).send({ statusCode: code, error: 'Bad Request', message })
  })

  return app
}

/**
 * Listens on RECEIVER_HTTP_HOST:RECEIVER_HTTP_PORT; resolves with the address. An address that cannot be taken (a
 * busy port, a privileged port, a host that is not this machine's) is the operator's to fix: it rejects with a
 * ConfigError naming the setting to change (the process exits 78), not with the bare `listen EADDRINUSE`.
 */
export async function listenOpsServer(app: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    return await app.listen({ host, port })
  } catch (err) {
    const problem = listenProblem(err, host, port)
    if (problem === undefined) throw err
    throw new ConfigError([problem])
  }
}

/** What to change when listen failed with `err`; undefined when it is not about the address. */
function listenProblem(err: unknown, host: string, port: number): string | undefined {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`
  switch (code) {
    case 'EADDRINUSE':
      return `RECEIVER_HTTP_PORT: the ops server cannot listen on ${where}: the port is already in use (EADDRINUSE) by another process (another receiver, or a collector or shipper in the same pod or host); set RECEIVER_HTTP_PORT to a free port, or RECEIVER_HTTP_HOST to another address`
    case 'EACCES':
    case 'EPERM':
      return `RECEIVER_HTTP_PORT: the ops server is not allowed to listen on ${where} (${code}; ports below 1024 need privileges): set RECEIVER_HTTP_PORT to a port above 1023`
    case 'EADDRNOTAVAIL':
    case 'EAFNOSUPPORT':
    case 'EINVAL':
      return `RECEIVER_HTTP_HOST: the ops server cannot listen on ${where} (${code}): "${host}" is not an address of this machine; use 0.0.0.0 (every IPv4 address), 127.0.0.1, or one of this machine's addresses`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
      return `RECEIVER_HTTP_HOST: the ops server cannot listen on ${where}: "${host}" does not resolve (${code}); use an IP address such as 0.0.0.0 or 127.0.0.1`
    default:
      return undefined
  }
}

/**
 * Closes the ops server promptly: `app.close()`, and after `graceMs` any connection still open (a client that
 * keeps a keep-alive connection busy, a slow reader) is destroyed so shutdown is not held up. Idempotent.
 */
export async function closeOpsServer(app: FastifyInstance, opts: { graceMs?: number } = {}): Promise<void> {
  const graceMs = opts.graceMs ?? DEFAULT_CLOSE_GRACE_MS
  const timer = setTimeout(() => app.server.closeAllConnections(), graceMs)
  timer.unref()
  try {
    await app.close()
  } finally {
    clearTimeout(timer)
  }
}

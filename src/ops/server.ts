import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify'
import type { Logger } from 'pino'
import { monotonicNow } from '../siem/api-clock.js'
import type { ReceiverStatus } from '../status/index.js'
import { OPS_CHECK_INTERVAL_MS, OPS_IDLE_TIMEOUT_MS, OPS_MAX_CONNECTIONS, OPS_REQUEST_TIMEOUT_MS, clientErrorHandler } from './connections.js'
import { renderStatusPage } from './page.js'
import { OPS_BODY_LIMIT, SECURITY_HEADERS, notFoundAnswer, refuseMethod, requestGuard } from './request-guard.js'

export { OPS_IDLE_TIMEOUT_MS, closeOpsServer } from './connections.js'
export { listenOpsServer } from './listen.js'
export { OPS_BODY_LIMIT, PROTECTED_ROUTES, SECURITY_HEADERS } from './request-guard.js'

/** What `GET /metrics` serves: the Prometheus registry's exposition (ReceiverMetrics). */
export interface MetricsSource {
  /** e.g. `text/plain; version=0.0.4; charset=utf-8` */
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
  /** How long a whole request may take to arrive; OPS_REQUEST_TIMEOUT_MS by default (tests shorten it). */
  requestTimeoutMs?: number
}

/** The routes always served, for the 404 answer and docs; `/metrics` is added when metrics are given. */
export const OPS_ROUTES = ['/', '/healthz', '/readyz', '/status'] as const

const METHODS_NOT_ALLOWED = ['DELETE', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const

/**
 * The ops server, built, not listening ({@link listenOpsServer}). Fastify `close()` alone can wait ~72 s (the
 * keep-alive timeout) for a keep-alive connection that was busy when closing began (design §6). So once closing
 * starts, every response carries `connection: close` (later requests get Fastify's 503, `return503OnClosing`), idle
 * connections are closed, and {@link closeOpsServer} drops whatever is still open after a grace period.
 */
export function buildOpsServer(deps: OpsServerDeps): FastifyInstance {
  const { status, metrics } = deps
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
    requestTimeout: deps.requestTimeoutMs ?? OPS_REQUEST_TIMEOUT_MS,
    // Node looks for requests past their time only every 30 s by default: a sender trickling a byte now and then
    // (which keeps the idle timeout away) held its socket 10-40 s instead of 10. Checked every second, and the
    // headers bound by the same time.
    http: { connectionsCheckingInterval: OPS_CHECK_INTERVAL_MS, headersTimeout: deps.requestTimeoutMs ?? OPS_REQUEST_TIMEOUT_MS },
    // Node destroys a socket idle this long: before its first request, or between keep-alive requests.
    connectionTimeout: deps.idleTimeoutMs ?? OPS_IDLE_TIMEOUT_MS,
    keepAliveTimeout: deps.idleTimeoutMs ?? OPS_IDLE_TIMEOUT_MS,
    clientErrorHandler: clientErrorHandler(),
    exposeHeadRoutes: true,
    // A URL the router cannot decode (`/%`, `/%E0%A4%A`): Fastify's own answer repeats the URL; this one does not,
    // and it carries the usual headers, set here because it is answered before the hooks run.
    frameworkErrors: (_err, _req, generic) => {
      // The option's generic reply type cannot take a status code; it is a plain FastifyReply at run time.
      const reply = generic as unknown as FastifyReply
      void reply
        .code(400)
        .header('cache-control', 'no-store')
        .headers(SECURITY_HEADERS)
        .send({ statusCode: 400, error: 'Bad Request', message: 'malformed request URL' })
    },
  })

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
  app.addHook('onRequest', requestGuard(routes, deps.authToken))

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

  // Normally answered by the onRequest hook already; registered so the router knows these methods exist.
  for (const url of routes) app.route({ method: [...METHODS_NOT_ALLOWED], url, handler: (_req, reply) => refuseMethod(reply) })

  const notFound = notFoundAnswer(routes)
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

  // A flood of connections would otherwise take every file descriptor the process has (the SIEM API's and the
  // collector's sockets, the state file): past this many, new ones are closed at once.
  app.server.maxConnections = OPS_MAX_CONNECTIONS
  return app
}

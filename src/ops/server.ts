import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
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
  /** the receiver's pino logger (a child is used), or `false` (the default) for none */
  logger?: Logger | false
  /** Serves `GET /metrics` when given; without it, `/metrics` is a 404 like any unknown path. */
  metrics?: MetricsSource
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
  const routes: readonly string[] = metrics ? [...OPS_ROUTES, '/metrics'] : OPS_ROUTES
  const now = deps.now ?? Date.now
  const logger: FastifyBaseLogger | undefined = deps.logger ? deps.logger.child({ component: 'ops-server' }) : undefined
  const app: FastifyInstance = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    // Kubernetes probes every few seconds: logging each request would drown the receiver's own logs.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    bodyLimit: 1024,
    exposeHeadRoutes: true,
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

  app.get('/healthz', async (_req, reply) => {
    const live = status.liveness(now())
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
    const page = renderStatusPage(status.snapshot(at), status.readiness(at), at, status.liveness(at))
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
      handler: (_req, reply) =>
        reply.code(405).header('allow', 'GET, HEAD').send({ statusCode: 405, error: 'Method Not Allowed', message: 'use GET or HEAD' }),
    })
  }

  app.setNotFoundHandler(async (_req, reply) =>
    reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no such route; this server has ${routes.join(', ')}` }),
  )

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

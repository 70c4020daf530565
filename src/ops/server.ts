import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { ReceiverStatus } from '../status.js'

export interface OpsServerDeps {
  status: ReceiverStatus
  /** epoch ms; `Date.now` by default */
  now?: () => number
  /** the receiver's pino logger (a child is used), or `false` (the default) for none */
  logger?: Logger | false
}

/** The routes, for the 404 answer and docs. */
export const OPS_ROUTES = ['/healthz', '/readyz', '/status'] as const

/** After this long, `closeOpsServer` drops the connections still open instead of waiting for them. */
export const DEFAULT_CLOSE_GRACE_MS = 2000

const METHODS_NOT_ALLOWED = ['DELETE', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const

/**
 * The ops server: `GET /healthz` (liveness), `GET /readyz` (readiness), `GET /status` (JSON snapshot). Built,
 * not listening: `main` calls `app.listen({ host: RECEIVER_HTTP_HOST, port: RECEIVER_HTTP_PORT })`.
 *
 * Shutting down: call {@link closeOpsServer}, or `app.close()`. Fastify `close()` alone can wait ~72 s (the
 * keep-alive timeout) for a keep-alive connection that was busy when closing began (design §6). So once
 * closing starts, every response carries `connection: close` (an `onSend` hook; requests arriving after it
 * get Fastify's 503 with `connection: close` too, `return503OnClosing`), idle connections are closed
 * (`forceCloseConnections: 'idle'`), and `closeOpsServer` drops whatever is still open after a grace period.
 */
export function buildOpsServer(deps: OpsServerDeps): FastifyInstance {
  const { status } = deps
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

  for (const url of OPS_ROUTES) {
    app.route({
      method: [...METHODS_NOT_ALLOWED],
      url,
      handler: (_req, reply) =>
        reply.code(405).header('allow', 'GET, HEAD').send({ statusCode: 405, error: 'Method Not Allowed', message: 'use GET or HEAD' }),
    })
  }

  app.setNotFoundHandler(async (_req, reply) =>
    reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no such route; this server has ${OPS_ROUTES.join(', ')}` }),
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

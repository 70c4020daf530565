import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'

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

/** No route takes a body; a request that announces a bigger one than this is refused before any of it is read. */
export const OPS_BODY_LIMIT = 1024

/** The routes that show tenant activity and so need the bearer token when one is configured. */
export const PROTECTED_ROUTES: readonly string[] = ['/', '/status', '/metrics']

export const notFoundAnswer = (routes: readonly string[]) => ({ statusCode: 404, error: 'Not Found', message: `no such route; this server has ${routes.join(', ')}` })

export const refuseMethod = (reply: FastifyReply): FastifyReply =>
  reply.code(405).header('allow', 'GET, HEAD').send({ statusCode: 405, error: 'Method Not Allowed', message: 'use GET or HEAD' })

/** Fixed-length digests, so `timingSafeEqual` compares equal-length buffers and the token's length does not leak. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), or undefined. */
function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ ]+([^ ].*)$/i.exec(header?.trim() ?? '')
  return m?.[1]?.trim()
}

function hasBody(headers: Record<string, string | string[] | undefined>): boolean {
  return headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) !== 0
}

/**
 * The onRequest hook, before any body is read: a method no route takes is 405 (404 off the routes), a body on
 * GET/HEAD larger than OPS_BODY_LIMIT is 413, and a protected route without `authToken` is 401 (when a token is
 * set). When the request has a body, the connection is closed after the answer, so the rest of the body is never read.
 */
export function requestGuard(routes: readonly string[], authToken: string | undefined) {
  const expected = authToken !== undefined && authToken !== '' ? digest(authToken) : undefined
  const notFound = notFoundAnswer(routes)
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
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
      return refuseMethod(reply)
    }
    if (body && !(Number(req.headers['content-length'] ?? Infinity) <= OPS_BODY_LIMIT)) {
      return reply.code(413).send({ statusCode: 413, error: 'Payload Too Large', message: 'these routes take no body' })
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
  }
}

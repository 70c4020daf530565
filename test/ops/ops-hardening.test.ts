/**
 * The ops port is reachable by anything in the cluster (issue 7): only the documented routes, no body taken, no
 * stack or configuration value in any answer, and an optional bearer token for the routes that show tenant
 * activity while the probes stay open. Every test runs against a real listening server on 127.0.0.1.
 */
import t, { type Test } from 'tap'
import { request as httpRequest } from 'node:http'
import { connect, type Socket } from 'node:net'
import { pino } from 'pino'
import type { FastifyInstance } from 'fastify'
import { OPS_BODY_LIMIT, PROTECTED_ROUTES, SECURITY_HEADERS, buildOpsServer } from '../../src/ops/server.js'
import type { ReceiverStatus } from '../../src/status/index.js'
import { describeConfig, loadConfig } from '../../src/config/index.js'
import { ConfigError } from '../../src/errors.js'
import { createApp } from '../../src/app.js'
import { T0, newStatus as sharedStatus, send, startOps } from '../helpers/ops.js'

const TOKEN = 'ops-token-Zq8w3vN1'
const MB = 1024 * 1024
/** Anything that would show an internal: a stack frame, a module path, a configured value. */
const LEAK = new RegExp(`at .*\\.js|node_modules|stack|${TOKEN}|/work/|dist/src`, 'i')

const newStatus = (): ReceiverStatus => sharedStatus({ eventTypes: ['messagesDelivered'] })

const metrics = { contentType: 'text/plain; version=0.0.4; charset=utf-8', render: async () => 'proofpoint_receiver_ready 1\n' }

/** A short grace: these tests leave half-sent requests open on purpose. */
const start = (t: Test, app: FastifyInstance): Promise<{ base: string; port: number }> => startOps(t, app, { graceMs: 100 })

/** Writes `text` on a raw socket (for request lines no HTTP client would send) and returns all that comes back. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(text))
    let out = ''
    socket.setEncoding('latin1')
    socket.on('data', (d: string) => (out += d))
    socket.on('close', () => resolve(out))
    socket.on('error', () => undefined)
  })
}

function statusOf(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0)
}

/**
 * Sends a request announcing (or, chunked, streaming) `size` body bytes, written 64 KiB at a time as the socket
 * drains, so the client never holds the body; stops writing when the answer arrives or the server closes.
 */
function sendBig(
  base: string,
  method: string,
  path: string,
  size: number,
  chunked = false,
): Promise<{ status: number; text: string; written: number; ms: number }> {
  const chunk = Buffer.alloc(64 * 1024, 0x61)
  const began = performance.now()
  return new Promise((resolve, reject) => {
    let written = 0
    let answered = false
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    // (node's client does not chunk GET bodies on its own: say so explicitly)
    if (chunked) headers['transfer-encoding'] = 'chunked'
    else headers['content-length'] = String(size)
    const req = httpRequest(new URL(path, base), { method, agent: false, headers }, (res) => {
      answered = true
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), written, ms: performance.now() - began }))
      res.on('error', () => undefined)
    })
    // The server closes the connection after answering: writing then fails (EPIPE, ECONNRESET), as it should.
    req.on('error', (err) => {
      if (!answered) reject(err)
    })
    const pump = (): void => {
      while (!answered && !req.destroyed && written < size) {
        written += chunk.length
        if (!req.write(chunk)) {
          req.once('drain', pump)
          return
        }
      }
      if (written >= size && !req.destroyed) req.end()
    }
    pump()
  })
}

/** Bytes the server read from its sockets, counted per connection. */
function countBytesRead(app: FastifyInstance): () => number {
  const sockets: Socket[] = []
  app.server.on('connection', (s: Socket) => sockets.push(s))
  return () => sockets.reduce((n, s) => n + s.bytesRead, 0)
}

void t.test('only the documented routes: unknown paths 404, other methods 405, all JSON without internals', async (t) => {
  const { base, port } = await start(t, buildOpsServer({ status: newStatus(), now: () => T0, metrics }))
  for (const path of ['/', '/healthz', '/readyz', '/status', '/metrics']) {
    // /readyz is 503 while the receiver is starting: still the route answering.
    const ok = path === '/readyz' ? 503 : 200
    t.equal((await send(base, 'GET', path)).status, ok, `GET ${path}`)
    t.equal((await send(base, 'HEAD', path)).status, ok, `HEAD ${path}`)
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const r = await send(base, method, path)
      t.equal(r.status, 405, `${method} ${path}`)
      t.equal(r.headers.allow, 'GET, HEAD')
      t.same(JSON.parse(r.text), { statusCode: 405, error: 'Method Not Allowed', message: 'use GET or HEAD' })
    }
  }
  for (const path of ['/nope', '/status/', '//status', '/STATUS', '/metrics.txt', '/.env', '/../etc/passwd', '/healthz%00']) {
    const r = await send(base, 'GET', path)
    t.equal(r.status, 404, path)
    t.match(r.headers['content-type'], /^application\/json/)
    t.notMatch(r.text, LEAK)
  }
  t.equal((await send(base, 'POST', '/nope')).status, 404, 'a method on an unknown path is 404')

  // TRACE and unknown methods: no route has them; never echoed back (no cross-site tracing).
  const trace = await raw(port, 'TRACE / HTTP/1.1\r\nHost: x\r\nCookie: secret-cookie\r\nConnection: close\r\n\r\n')
  t.equal(statusOf(trace), 405, 'TRACE /')
  t.notMatch(trace, /secret-cookie/)
  t.equal(statusOf(await raw(port, 'TRACE /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')), 404, 'TRACE elsewhere')
  t.equal(statusOf(await raw(port, 'FOO / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')), 400, 'a method node does not know')
})

void t.test('malformed URLs: 400 or 404 JSON with the security headers, never the URL, a stack or a setting', async (t) => {
  const { base, port } = await start(t, buildOpsServer({ status: newStatus(), now: () => T0, metrics, authToken: TOKEN }))
  for (const path of ['/%', '/%E0%A4%A', '/%zz', '/%C0%AF']) {
    const response = await raw(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    const code = statusOf(response)
    t.ok(code === 400 || code === 404, `${path}: ${code}`)
    const [head = '', body = ''] = response.split('\r\n\r\n')
    t.match(head, /content-type: application\/json/i)
    t.match(head, /x-content-type-options: nosniff/i)
    t.notMatch(body, LEAK, `${path}: no internals`)
    t.notOk(body.includes(path), `${path}: the URL is not repeated`)
    t.doesNotThrow(() => JSON.parse(body) as unknown)
  }
  // A broken query string on an open route does not matter; on a protected one the token is still asked for.
  t.equal((await send(base, 'GET', '/healthz?x=%E0')).status, 200)
  const q = await send(base, 'GET', '/status?x=%E0&y=%')
  t.equal(q.status, 401)
  t.notMatch(q.text, LEAK)
  t.equal((await send(base, 'GET', '/status?x=%E0', { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200)

  // Very long URLs and headers: node's 16 KiB header limit answers 431 before any route runs.
  const longUrl = await raw(port, `GET /status?${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
  t.equal(statusOf(longUrl), 431, 'a 20 KB URL')
  t.notMatch(longUrl, LEAK)
  const bigHeader = await raw(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(64 * 1024)}\r\nConnection: close\r\n\r\n`)
  t.equal(statusOf(bigHeader), 431, 'a 64 KiB header')
  t.notMatch(bigHeader, LEAK)
  // A long path under the limit is just unknown.
  const long = await send(base, 'GET', `/${'x'.repeat(8000)}`)
  t.equal(long.status, 404)
  t.ok(long.text.length < 300, 'the 404 does not repeat the path')
})

void t.test('oversized requests: refused fast, the body is not read, memory does not grow by it', async (t) => {
  const app = buildOpsServer({ status: newStatus(), now: () => T0, metrics })
  const bytesRead = countBytesRead(app)
  const { base } = await start(t, app)
  const size = 10 * MB

  globalThis.gc?.()
  const before = process.memoryUsage()
  for (const [method, path, chunked, expected] of [
    ['POST', '/status', false, 405],
    ['PUT', '/', true, 405],
    ['POST', '/nope', false, 404],
    ['GET', '/healthz', false, 413],
    ['GET', '/status', true, 413],
  ] as const) {
    const readBefore = bytesRead()
    const r = await sendBig(base, method, path, size, chunked)
    t.equal(r.status, expected, `${method} ${path} with a 10 MB ${chunked ? 'chunked ' : ''}body`)
    t.notMatch(r.text, LEAK)
    t.ok(r.ms < 2000, `answered in ${r.ms.toFixed(0)} ms`)
    // Give the server a moment: it must have closed the connection rather than drained the body.
    await new Promise((resolve) => setTimeout(resolve, 50))
    const read = bytesRead() - readBefore
    t.ok(read < 2 * MB, `the server read ${(read / MB).toFixed(2)} MB of the 10 MB body`)
  }
  globalThis.gc?.()
  const after = process.memoryUsage()
  const grown = after.rss - before.rss
  t.ok(grown < 8 * MB, `rss grew by ${(grown / MB).toFixed(1)} MB over five 10 MB bodies`)
  t.ok(after.arrayBuffers - before.arrayBuffers < 4 * MB, 'no body buffered')

  // A small body on GET is tolerated (ignored), up to the limit.
  const small = await sendBig(base, 'GET', '/healthz', OPS_BODY_LIMIT / 2)
  t.equal(small.status, 200)
})

void t.test('bearer token: /status, /metrics and / need it; the probes stay open', async (t) => {
  const { base, port } = await start(t, buildOpsServer({ status: newStatus(), now: () => T0, metrics, authToken: TOKEN }))
  t.same([...PROTECTED_ROUTES].sort(), ['/', '/metrics', '/status'])

  for (const path of ['/healthz', '/readyz']) {
    const r = await send(base, 'GET', path)
    t.ok(r.status === 200 || r.status === 503, `${path} answers without a token (${r.status})`)
    t.notOk(r.headers['www-authenticate'])
  }

  const wrong: Array<[string, Record<string, string>]> = [
    ['no header', {}],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['wrong token, same length', { authorization: `Bearer ${TOKEN.slice(0, -1)}X` }],
    ['a prefix of the token', { authorization: `Bearer ${TOKEN.slice(0, 5)}` }],
    ['the token and more', { authorization: `Bearer ${TOKEN}${TOKEN}` }],
    ['a very long token', { authorization: `Bearer ${'z'.repeat(8000)}` }],
    ['basic auth', { authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}` }],
    ['the token without a scheme', { authorization: TOKEN }],
    ['the token elsewhere', { 'x-auth-token': TOKEN }],
  ]
  for (const path of ['/status', '/metrics', '/']) {
    for (const [what, headers] of wrong) {
      for (const method of ['GET', 'HEAD']) {
        const r = await send(base, method, path, { headers })
        t.equal(r.status, 401, `${method} ${path}: ${what}`)
        t.match(r.headers['www-authenticate'], /^Bearer realm="proofpoint-siem-receiver"/)
        if (method === 'GET') {
          t.has(JSON.parse(r.text) as unknown, { statusCode: 401 })
          t.notMatch(r.text, LEAK, 'the token is never in an answer')
        }
        t.equal(r.headers['cache-control'], 'no-store')
      }
    }
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const r = await send(base, 'GET', path, { headers: { authorization: `${scheme} ${TOKEN}` } })
      t.equal(r.status, 200, `${path} with ${scheme} <token>`)
    }
  }
  t.match((await send(base, 'GET', '/status', { headers: { authorization: 'Bearer nope' } })).headers['www-authenticate'], /error="invalid_token"/)

  // The route the router matched decides, not the URL's spelling: an absolute-form request line is no way around it.
  const absolute = await raw(port, 'GET http://127.0.0.1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(statusOf(absolute), 401, 'absolute-form URL')
  t.notMatch(absolute, /"cursor"/)
  t.equal(statusOf(await raw(port, 'GET /status?a=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')), 401, 'with a query')

  // Unknown routes stay 404 with or without a token.
  t.equal((await send(base, 'GET', '/nope')).status, 404)
})

void t.test('without a token every route is open', async (t) => {
  const { base } = await start(t, buildOpsServer({ status: newStatus(), now: () => T0, metrics }))
  for (const path of ['/', '/status', '/metrics']) t.equal((await send(base, 'GET', path)).status, 200, path)
  const empty = await start(t, buildOpsServer({ status: newStatus(), now: () => T0, metrics, authToken: '' }))
  t.equal((await send(empty.base, 'GET', '/status')).status, 200, 'an empty token is no token (config refuses an empty file)')
})

void t.test('the HTML page carries the security headers', async (t) => {
  const { base } = await start(t, buildOpsServer({ status: newStatus(), now: () => T0, metrics, authToken: TOKEN }))
  const page = await send(base, 'GET', '/', { headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(page.status, 200)
  t.match(page.headers['content-type'], /^text\/html; charset=utf-8/)
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) t.equal(page.headers[name], value, name)
  t.equal(page.headers['content-security-policy'], "default-src 'none'; style-src 'unsafe-inline'")
  t.equal(page.headers['x-frame-options'], 'DENY')
  t.equal(page.headers['cache-control'], 'no-store')
  t.notMatch(page.text, /<script|src=|href="http/i, 'no script, no external asset')
  // The 401 and 404 answers carry them too.
  for (const r of [await send(base, 'GET', '/'), await send(base, 'GET', '/nope')]) {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) t.equal(r.headers[name], value, `${r.status}: ${name}`)
  }
})

const REQUIRED = { PROOFPOINT_PRINCIPAL: 'principal@example.com', PROOFPOINT_SECRET: 'pp-secret' }

void t.test('RECEIVER_HTTP_AUTH_TOKEN_FILE: read at start, trimmed, never shown', async (t) => {
  const files: Record<string, string> = { '/run/secrets/ops-token': `  ${TOKEN}\n`, '/run/secrets/empty': ' \n' }
  const readFile = (path: string): string => {
    const text = files[path]
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' })
    return text
  }
  const loaded = loadConfig({ env: { ...REQUIRED, RECEIVER_HTTP_AUTH_TOKEN_FILE: '/run/secrets/ops-token' }, readFile })
  t.equal(loaded.config.receiver.httpAuthToken, TOKEN, 'trimmed')
  t.equal(loaded.config.receiver.httpAuthTokenFile, '/run/secrets/ops-token')
  const row = describeConfig(loaded).find((r) => r.name === 'RECEIVER_HTTP_AUTH_TOKEN_FILE')
  t.same(row, { name: 'RECEIVER_HTTP_AUTH_TOKEN_FILE', value: '/run/secrets/ops-token', source: 'env' }, 'check-config shows the path')
  t.notMatch(JSON.stringify(describeConfig(loaded)), new RegExp(TOKEN), 'never the token')

  const unset = loadConfig({ env: REQUIRED, readFile })
  t.notOk('httpAuthToken' in unset.config.receiver, 'unset: no token, routes open')
  t.equal(describeConfig(unset).find((r) => r.name === 'RECEIVER_HTTP_AUTH_TOKEN_FILE')?.value, '(unset)')

  for (const [value, problem] of [
    ['/run/secrets/missing', /RECEIVER_HTTP_AUTH_TOKEN_FILE: cannot read .*missing.* \(ENOENT\)/],
    ['/run/secrets/empty', /RECEIVER_HTTP_AUTH_TOKEN_FILE: .*empty.* is empty/],
    ['', /RECEIVER_HTTP_AUTH_TOKEN_FILE.*must not be empty/],
  ] as const) {
    const err = t.throws(() => loadConfig({ env: { ...REQUIRED, RECEIVER_HTTP_AUTH_TOKEN_FILE: value }, readFile })) as unknown
    t.ok(err instanceof ConfigError, `${JSON.stringify(value)}: a ConfigError`)
    t.match(String((err as Error).message), problem)
  }

  // createApp hands the token to the ops server.
  const app = createApp(loaded.config, { logger: pino({ level: 'silent' }) })
  t.teardown(() => app.shutdown())
  t.equal((await app.ops.inject({ method: 'GET', url: '/status' })).statusCode, 401)
  t.equal((await app.ops.inject({ method: 'GET', url: '/status', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 200)
  t.not((await app.ops.inject({ method: 'GET', url: '/healthz' })).statusCode, 401)
})

import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { inspect } from 'node:util'
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib'
import t from 'tap'
import type { Test } from 'tap'
import { Agent } from 'undici'
import { SiemApiError, SiemAuthError, SiemBadRequestError, SiemBadResponseError, SiemNetworkError, SiemServerError, SiemThrottledError, SiemTimeoutError } from '../../src/errors.js'
import { parseRetryAfter } from '../../src/http-util.js'
import { SiemClient, formatApiTime } from '../../src/siem/client.js'
import type { SiemClientOptions } from '../../src/siem/client.js'
import { BodyFormatError, describeForeignBody } from '../../src/siem/body-format.js'
import { SiemBodyParser } from '../../src/siem/response-parser.js'
import { EVENT_TYPES } from '../../src/siem/types.js'
import type { EventType, TimeWindow } from '../../src/siem/types.js'
import { startSimulator } from '../../src/simulator/index.js'

const PRINCIPAL = 'svc-principal@corp.example'
const SECRET = 'S3cr3t-Value-Never-Shown'
const TOKEN = Buffer.from(`${PRINCIPAL}:${SECRET}`).toString('base64')
const NOW = Date.UTC(2026, 10, 24, 12, 5, 0)
const WINDOW: TimeWindow = { start: new Date(Date.UTC(2026, 10, 24, 11)), end: new Date(Date.UTC(2026, 10, 24, 12)) }
const FIXTURE = readFileSync(new URL('../../../test/fixtures/siem-all-response.json', import.meta.url))

interface Recorded {
  url: string
  headers: IncomingHttpHeaders
}
interface TestServer {
  url: string
  requests: Recorded[]
  connections: number
}

/** A throwaway HTTP server on 127.0.0.1 that records requests; closed (connections too) when the test ends. */
async function serve(tt: Test, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const requests: Recorded[] = []
  const server = createServer((req, res) => {
    requests.push({ url: req.url ?? '', headers: req.headers })
    handler(req, res)
  })
  const out: TestServer = { url: '', requests, connections: 0 }
  server.on('connection', () => out.connections++)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  out.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  tt.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  return out
}

function reply(status: number, body: string | Buffer = '', headers: Record<string, string> = {}) {
  return (_req: IncomingMessage, res: ServerResponse): void => {
    const b = typeof body === 'string' ? Buffer.from(body) : body
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(b.length), ...headers })
    res.end(b)
  }
}

function client(tt: Test, url: string, opts: Partial<SiemClientOptions> = {}): SiemClient {
  const c = new SiemClient({ baseUrl: url, principal: PRINCIPAL, getSecret: () => SECRET, eventTypes: [...EVENT_TYPES], timeoutMs: 2000, ...opts })
  tt.teardown(() => c.close())
  return c
}

async function fetchError(c: SiemClient, signal?: AbortSignal): Promise<unknown> {
  try {
    await c.fetchWindow(WINDOW, signal)
  } catch (err) {
    return err
  }
  throw new Error('expected fetchWindow to fail')
}

/** The secret and the Authorization token must not leak through any way an error is shown. */
function assertNoSecret(tt: Test, err: unknown): void {
  const e = err as Error
  const views = [e.message, e.stack ?? '', JSON.stringify(e), inspect(e, { depth: 10 }), String(e)]
  for (const v of views) {
    tt.notOk(v.includes(SECRET), 'secret not shown')
    tt.notOk(v.includes(TOKEN), 'auth token not shown')
  }
}

t.test('GET /v2/siem/all with format=json, the interval, filters, basic auth and accept: application/json', async (t) => {
  const srv = await serve(t, reply(204))
  const c = client(t, srv.url, { threatStatus: 'active', threatType: 'url' })
  const r = await c.fetchWindow(WINDOW)
  t.equal(r.status, 204)
  const req = srv.requests[0] as Recorded
  const u = new URL(req.url, 'http://x')
  t.equal(u.pathname, '/v2/siem/all')
  t.equal(u.searchParams.get('format'), 'json')
  t.equal(u.searchParams.get('interval'), '2026-11-24T11:00:00Z/2026-11-24T12:00:00Z')
  t.equal(u.searchParams.get('threatStatus'), 'active')
  t.equal(u.searchParams.get('threatType'), 'url')
  t.equal(req.headers.authorization, `Basic ${TOKEN}`)
  t.equal(req.headers.accept, 'application/json')
  t.equal(c.requestPath(WINDOW), req.url, 'requestPath is what goes on the wire')
  t.notOk(c.requestPath(WINDOW).includes(SECRET))
})

t.test('milliseconds are dropped from the interval; a base URL path prefix is kept; no filters unless configured', async (t) => {
  const srv = await serve(t, reply(204))
  const c = client(t, `${srv.url}/proxy/tap/`)
  await c.fetchWindow({ start: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 999)), end: new Date(Date.UTC(2026, 0, 1, 0, 30, 0, 1)) })
  const u = new URL((srv.requests[0] as Recorded).url, 'http://x')
  t.equal(u.pathname, '/proxy/tap/v2/siem/all')
  t.equal(u.searchParams.get('interval'), '2026-01-01T00:00:00Z/2026-01-01T00:30:00Z')
  t.notOk(u.searchParams.has('threatStatus'))
  t.notOk(u.searchParams.has('threatType'))
  t.equal(formatApiTime(new Date(Date.UTC(2026, 10, 24, 11, 0, 0, 500))), '2026-11-24T11:00:00Z')
})

t.test('base URL checks', async (t) => {
  t.throws(() => new SiemClient({ baseUrl: 'ftp://x.example', principal: 'p', getSecret: () => 's', eventTypes: [], timeoutMs: 1 }), TypeError)
  t.throws(() => new SiemClient({ baseUrl: 'https://u:p@x.example', principal: 'p', getSecret: () => 's', eventTypes: [], timeoutMs: 1 }), TypeError)
})

t.test('against the simulator: the response is exactly what the simulator holds for the window', async (t) => {
  const sim = await startSimulator({ principal: PRINCIPAL, secret: SECRET, now: () => NOW, eventsPerMinute: 10 })
  t.teardown(() => sim.close())
  const c = client(t, sim.url)
  const r = await c.fetchWindow(WINDOW)
  t.equal(r.status, 200)
  t.equal(r.response.queryEndTime, '2026-11-24T12:00:00Z')
  t.same(r.response.events, sim.eventsIn(WINDOW))
  t.ok(r.response.events.messagesDelivered.length > 100)
  t.equal(r.bytes, sim.requests[0]?.bytes, 'bytes = body length')
})

t.test('one configured event type uses its own endpoint; a subset uses /all and keeps only its arrays', async (t) => {
  const sim = await startSimulator({ principal: PRINCIPAL, secret: SECRET, now: () => NOW, eventsPerMinute: 10 })
  t.teardown(() => sim.close())
  const expected = sim.eventsIn(WINDOW)
  const paths: Record<EventType, string> = {
    messagesDelivered: '/v2/siem/messages/delivered',
    messagesBlocked: '/v2/siem/messages/blocked',
    clicksPermitted: '/v2/siem/clicks/permitted',
    clicksBlocked: '/v2/siem/clicks/blocked',
  }
  for (const type of EVENT_TYPES) {
    const r = await client(t, sim.url, { eventTypes: [type] }).fetchWindow(WINDOW)
    t.equal(sim.requests.at(-1)?.path, paths[type])
    for (const other of EVENT_TYPES) t.same(r.response.events[other], other === type ? expected[other] : [], `${type}: ${other}`)
  }
  const r = await client(t, sim.url, { eventTypes: ['clicksBlocked', 'messagesBlocked', 'clicksBlocked'] }).fetchWindow(WINDOW)
  t.equal(sim.requests.at(-1)?.path, '/v2/siem/all')
  t.same(r.response.events, { messagesDelivered: [], messagesBlocked: expected.messagesBlocked, clicksPermitted: [], clicksBlocked: expected.clicksBlocked })
  const all = await client(t, sim.url, { eventTypes: [] }).fetchWindow(WINDOW)
  t.equal(sim.requests.at(-1)?.path, '/v2/siem/all', 'no types configured means all')
  t.same(all.response.events, expected)
})

t.test('204, empty and missing arrays all give four empty arrays', async (t) => {
  const empty = { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
  for (const [status, body] of [
    [204, ''],
    [200, ''],
    [200, ' \n'],
    [200, '{}'],
    [200, '{"queryEndTime":"2026-11-24T12:00:00Z","messagesDelivered":[],"messagesBlocked":null}'],
  ] as const) {
    const srv = await serve(t, status === 204 ? (_q, res) => res.writeHead(204).end() : reply(status, body))
    const r = await client(t, srv.url).fetchWindow(WINDOW)
    t.equal(r.status, status)
    t.same(r.response.events, empty, JSON.stringify(body))
    t.equal(r.bytes, Buffer.byteLength(body))
  }
})

t.test('the fixture parses as JSON.parse reads it; unknown fields and queryEndTime are kept', async (t) => {
  const srv = await serve(t, reply(200, FIXTURE))
  const r = await client(t, srv.url).fetchWindow(WINDOW)
  const j = JSON.parse(FIXTURE.toString('utf8')) as Record<string, unknown>
  t.equal(r.response.queryEndTime, j.queryEndTime)
  for (const type of EVENT_TYPES) t.same(r.response.events[type], j[type])
  t.equal(r.bytes, FIXTURE.length)
})

t.test('gzip, deflate and br bodies are decoded; bytes counts what came over the wire', async (t) => {
  const gz = gzipSync(FIXTURE)
  const srv = await serve(t, reply(200, gz, { 'content-encoding': 'gzip' }))
  const r = await client(t, srv.url).fetchWindow(WINDOW)
  t.equal(r.response.events.clicksBlocked.length, 3)
  t.equal(r.bytes, gz.length)
  t.match((srv.requests[0] as Recorded).headers['accept-encoding'], /gzip/)

  for (const [encoding, body] of [
    ['deflate', deflateSync(FIXTURE)],
    ['br', brotliCompressSync(FIXTURE)],
    ['x-gzip', gz],
    ['identity', FIXTURE],
  ] as const) {
    const other = await serve(t, reply(200, body, { 'content-encoding': encoding }))
    const res = await client(t, other.url).fetchWindow(WINDOW)
    t.equal(res.response.events.messagesBlocked.length, 3, encoding)
    t.equal(res.bytes, body.length)
  }
  const badBr = await serve(t, reply(200, 'garbage!', { 'content-encoding': 'br' }))
  t.type(await fetchError(client(t, badBr.url)), SiemBadResponseError, 'corrupt br')
  const bad = await serve(t, reply(200, gz.subarray(0, 40), { 'content-encoding': 'gzip' }))
  const e1 = await fetchError(client(t, bad.url))
  t.type(e1, SiemBadResponseError, 'truncated gzip')
  const garbage = await serve(t, reply(200, 'not gzip at all', { 'content-encoding': 'gzip' }))
  t.type(await fetchError(client(t, garbage.url)), SiemBadResponseError, 'corrupt gzip')
  const unknown = await serve(t, reply(200, FIXTURE, { 'content-encoding': 'zstd-ish' }))
  const e2 = await fetchError(client(t, unknown.url))
  t.type(e2, SiemBadResponseError)
  t.match((e2 as Error).message, /content-encoding/)
})

t.test('HTTP errors map to typed errors with stable codes', async (t) => {
  const cases: [number, string, Record<string, string>, new (...a: never[]) => SiemApiError, string][] = [
    [400, '{"message":"  The requested interval is too long.  "}', {}, SiemBadRequestError, 'PSR_ERR_SIEM_BAD_REQUEST'],
    [401, 'Unauthorized', {}, SiemAuthError, 'PSR_ERR_SIEM_AUTH'],
    [403, '', {}, SiemAuthError, 'PSR_ERR_SIEM_AUTH'],
    [429, '', { 'retry-after': '120' }, SiemThrottledError, 'PSR_ERR_SIEM_THROTTLED'],
    [500, 'Internal Server Error', {}, SiemServerError, 'PSR_ERR_SIEM_SERVER'],
    [502, '<html><body>Bad gateway</body></html>', {}, SiemServerError, 'PSR_ERR_SIEM_SERVER'],
    [503, '{"error":"maintenance"}', {}, SiemServerError, 'PSR_ERR_SIEM_SERVER'],
    [404, 'nope', {}, SiemServerError, 'PSR_ERR_SIEM_SERVER'],
    [418, 'teapot', {}, SiemServerError, 'PSR_ERR_SIEM_SERVER'],
  ]
  for (const [status, body, headers, cls, code] of cases) {
    const srv = await serve(t, reply(status, body, headers))
    const err = await fetchError(client(t, srv.url))
    t.type(err, cls, `${status}`)
    t.equal((err as SiemApiError).code, code)
    t.equal((err as SiemApiError).status, status)
    assertNoSecret(t, err)
    if (status === 400) t.equal((err as SiemBadRequestError).apiMessage, 'The requested interval is too long.')
    if (status === 401) t.match((err as Error).message, PRINCIPAL)
    if (status === 429) t.equal((err as SiemThrottledError).retryAfterMs, 120_000)
    if (status === 503) t.match((err as Error).message, 'maintenance')
    if (status === 404) t.match((err as Error).message, /not found.*PROOFPOINT_BASE_URL/)
  }
})

t.test('400: the API message is surfaced as text, trimmed and capped', async (t) => {
  const srv = await serve(t, reply(400, `  Interval is too far in the past\n${'x'.repeat(2000)}`, { 'content-type': 'text/plain' }))
  const err = (await fetchError(client(t, srv.url))) as SiemBadRequestError
  t.match(err.apiMessage, /^Interval is too far in the past x+…$/)
  t.ok(err.apiMessage.length <= 501)
  for (const body of ['{"code":7}', '{broken', '{"message":"  "}']) {
    const odd = await serve(t, reply(400, body))
    t.equal(((await fetchError(client(t, odd.url))) as SiemBadRequestError).apiMessage, body, 'no message field: the text')
  }
  const empty = await serve(t, reply(400, ''))
  t.equal(((await fetchError(client(t, empty.url))) as SiemBadRequestError).apiMessage, '(no message)')
})

t.test('Retry-After as seconds, HTTP-date, garbage and absent', async (t) => {
  const date = new Date(NOW + 90_000).toUTCString()
  const srv = await serve(t, reply(429, '', { 'retry-after': date }))
  const err = (await fetchError(client(t, srv.url, { now: () => NOW }))) as SiemThrottledError
  t.equal(err.retryAfterMs, 90_000)
  const none = await serve(t, reply(429, ''))
  t.equal(((await fetchError(client(t, none.url))) as SiemThrottledError).retryAfterMs, undefined)
  t.equal(parseRetryAfter('0', NOW), 0)
  t.equal(parseRetryAfter(' 2.5 ', NOW), 2500)
  t.equal(parseRetryAfter(['7', '9'], NOW), 7000)
  t.equal(parseRetryAfter('soon', NOW), undefined)
  t.equal(parseRetryAfter(undefined, NOW), undefined)
  t.equal(parseRetryAfter(new Date(NOW - 5000).toUTCString(), NOW), 0, 'a date in the past means now')
})

t.test('redirects are not followed: the credentials stay with the configured origin', async (t) => {
  const elsewhere = await serve(t, reply(200, '{}'))
  const srv = await serve(t, reply(302, '', { location: `${elsewhere.url}/v2/siem/all` }))
  const err = await fetchError(client(t, srv.url))
  t.type(err, SiemServerError)
  t.equal((err as SiemServerError).status, 302)
  t.match((err as Error).message, /redirect to .* not followed/)
  t.equal(elsewhere.requests.length, 0, 'the other origin was never contacted')
  const bare = await serve(t, reply(307, ''))
  t.match(((await fetchError(client(t, bare.url))) as Error).message, /307: redirect not followed/)
  // A login redirect that hands the credentials back in its query or user info: not quoted.
  const basic = encodeURIComponent(`${PRINCIPAL}:${SECRET}`)
  const sso = await serve(t, reply(302, '', { location: `https://${basic}@sso.example/login?u=${basic}&next=%2Fv2` }))
  const message = ((await fetchError(client(t, sso.url))) as Error).message
  t.match(message, /redirect to https:\/\/\[redacted\]@sso\.example\/login\?u=\[redacted\]&next=\[redacted\] not followed/)
  t.notMatch(message, SECRET)
})

t.test('a 2xx body that is not the documented JSON is a SiemBadResponseError that says what it looks like', async (t) => {
  const cases: [string, RegExp][] = [
    ['<14>1 2026-11-24T11:00:00Z tap-api siem - - type=messagesDelivered GUID="abc" sender="x@y"\n', /syslog text; is format=json being stripped by a proxy/],
    ['messageTime=2026-11-24T11:00:00Z GUID=abc\n', /syslog/],
    ['<!DOCTYPE html><html><head><title>Proxy login</title></head></html>', /HTML/],
    ['[{"GUID":"x"}]', /JSON array, not an object/],
    ['"a string"', /JSON value that is not an object/],
    ['null', /JSON value that is not an object/],
    ['%PDF-1.4 binary', /not JSON/],
    ['{"messagesDelivered":"oops"}', /"messagesDelivered" is a string, not an array/],
    ['{"messagesDelivered":{"a":1}}', /"messagesDelivered" is an object, not an array/],
    ['{"clicksBlocked":[{"id":1},{"id":2,}]}', /malformed JSON in clicksBlocked\[1\]/],
    ['{"queryEndTime":"x"} trailing', /unexpected data after the end/],
    ['{"a" 1}', /expected ':'/],
    ['{"a":1 "b":2}', /expected ',' or '}'/],
    ['{"messagesBlocked":[{} {}]}', /expected ',' or '\]'/],
    ['{"messagesBlocked":[,]}', /expected a JSON value/],
    ['{,}', /expected a field name/],
    ['{"a":tru}', /malformed JSON in the value of "a"/],
    ['{"a":1,}', /expected a field name/],
    // A gateway's notice or renamed arrays: read as a window without events, the cursor would pass over it.
    ['{"notice":"temporarily degraded"}', /a JSON object with none of the SIEM API's fields \(queryEndTime, messagesDelivered, .*\) but "notice"/],
    ['{"MessagesDelivered":[{"GUID":"x"}],"ClicksBlocked":[],"a":1,"b":2}', /but "MessagesDelivered", "ClicksBlocked", "a": not an answer/],
  ]
  for (const [body, re] of cases) {
    const srv = await serve(t, reply(200, body, { 'content-type': 'text/plain' }))
    const err = await fetchError(client(t, srv.url))
    t.type(err, SiemBadResponseError, body)
    t.equal((err as SiemBadResponseError).code, 'PSR_ERR_SIEM_BAD_RESPONSE')
    t.equal((err as SiemBadResponseError).status, 200, 'the API answered: its status is kept')
    t.match((err as Error).message, re, body)
    t.match((err as Error).message, /it starts with "/, 'an excerpt is included')
  }
  const untyped = await serve(t, (_req, res) => {
    res.removeHeader('content-type')
    res.end('plain words')
  })
  const e0 = (await fetchError(client(t, untyped.url))) as Error
  t.notMatch(e0.message, /content-type/, 'no content-type: not mentioned')
  const long = await serve(t, reply(200, `<14>${'y'.repeat(5000)}\u0000\u001b[31m`))
  const err = (await fetchError(client(t, long.url))) as Error
  const excerpt = /it starts with "(.*)"/.exec(err.message)?.[1] ?? ''
  t.ok(excerpt.length <= 90, 'excerpt is short')
})

t.test('a truncated body is a typed, retryable error', async (t) => {
  const half = FIXTURE.subarray(0, Math.floor(FIXTURE.length / 2))
  // Correct content-length for what is sent: the JSON itself is cut.
  const srv = await serve(t, reply(200, half))
  const e1 = await fetchError(client(t, srv.url))
  t.type(e1, SiemBadResponseError)
  t.match((e1 as Error).message, /truncated JSON/)
  t.equal((e1 as SiemApiError).status, 200, 'a cut body: the answer was a 200 all the same')
  // Content-length promises more, then the server goes away.
  const srv2 = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(FIXTURE.length) })
    res.write(half)
    setTimeout(() => res.socket?.destroy(), 20)
  })
  const e2 = await fetchError(client(t, srv2.url))
  t.type(e2, SiemApiError)
  t.equal((e2 as SiemApiError).code, 'PSR_ERR_SIEM_NETWORK')
  t.match((e2 as Error).message, /after \d+ bytes of the response body/)
  t.equal((e2 as SiemApiError).status, 200, 'the connection failed after the answer came')
  assertNoSecret(t, e2)
  // Chunked, then the connection drops.
  const srv3 = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write(half)
    setTimeout(() => res.socket?.destroy(), 20)
  })
  const e3 = await fetchError(client(t, srv3.url))
  t.type(e3, SiemNetworkError)
  t.equal((e3 as SiemApiError).status, 200)
})

t.test('a server that does not answer: SiemTimeoutError within the timeout', async (t) => {
  const silent = await serve(t, () => {})
  const started = Date.now()
  const e1 = await fetchError(client(t, silent.url, { timeoutMs: 300 }))
  const took = Date.now() - started
  t.type(e1, SiemTimeoutError)
  t.equal((e1 as SiemTimeoutError).code, 'PSR_ERR_SIEM_TIMEOUT')
  t.equal((e1 as SiemTimeoutError).status, undefined, 'no answer came')
  t.ok(took >= 250 && took < 2000, `headers timeout took ${took} ms`)
  assertNoSecret(t, e1)
  // Headers arrive, then the body stalls.
  const stall = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"messagesDelivered":[')
  })
  const s2 = Date.now()
  const e2 = await fetchError(client(t, stall.url, { timeoutMs: 300 }))
  t.type(e2, SiemTimeoutError, 'body timeout')
  t.equal((e2 as SiemTimeoutError).status, 200, 'the answer came, then its body stalled')
  t.ok(Date.now() - s2 < 2000)
})

t.test('connection refused is a SiemNetworkError', async (t) => {
  const probe = createServer()
  probe.listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const port = (probe.address() as AddressInfo).port
  await new Promise((r) => probe.close(r))
  const err = await fetchError(client(t, `http://127.0.0.1:${port}`))
  t.type(err, SiemNetworkError)
  t.equal((err as SiemNetworkError).code, 'PSR_ERR_SIEM_NETWORK')
  t.match((err as Error).message, /ECONNREFUSED/)
  t.match((err as Error).message, `127.0.0.1:${port}`)
  assertNoSecret(t, err)
})

t.test('a connection reset before the answer is a SiemNetworkError', async (t) => {
  const srv = await serve(t, (req) => req.socket.destroy())
  const err = await fetchError(client(t, srv.url))
  t.type(err, SiemNetworkError)
  t.equal((err as SiemNetworkError).status, undefined, 'no answer came')
})

t.test('a caller abort rejects with the abort reason, not a timeout', async (t) => {
  const silent = await serve(t, () => {})
  const c = client(t, silent.url, { timeoutMs: 5000 })
  const reason = new Error('shutting down')
  const ac = new AbortController()
  setTimeout(() => ac.abort(reason), 50)
  const started = Date.now()
  t.equal(await fetchError(c, ac.signal), reason)
  t.ok(Date.now() - started < 1000)
  t.equal(await fetchError(c, AbortSignal.abort(reason)), reason, 'already aborted')
  // Abort while the body is streaming.
  const stall = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"messagesDelivered":[')
  })
  const ac2 = new AbortController()
  setTimeout(() => ac2.abort(reason), 50)
  t.equal(await fetchError(client(t, stall.url, { timeoutMs: 5000 }), ac2.signal), reason)
})

t.test('the secret never appears in errors, even when a server echoes the Authorization header', async (t) => {
  const echo = (status: number) => (req: IncomingMessage, res: ServerResponse) => {
    const body = `bad auth header ${req.headers.authorization ?? ''} secret=${SECRET}`
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) })
    res.end(body)
  }
  const escaped = [...SECRET].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')
  const json = await serve(t, reply(400, `{"message":"you sent ${escaped}"}`))
  const ej = await fetchError(client(t, json.url))
  assertNoSecret(t, ej)
  t.equal((ej as SiemBadRequestError).apiMessage, 'you sent [REDACTED]', 'JSON-escaped secret is redacted too')
  for (const status of [200, 400, 401, 429, 500, 302]) {
    const srv = await serve(t, echo(status))
    const err = await fetchError(client(t, srv.url))
    t.type(err, SiemApiError, `${status}`)
    assertNoSecret(t, err)
    if (status === 400 || status === 500) t.match((err as Error).message, /\[REDACTED\]/)
  }
})

t.test('a JSON body without a message field, quoted as it is: the escaped secret and token are redacted too', async (t) => {
  const escaped = [...SECRET].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')
  // The token with its first character \u-escaped, and "/" escaped as JSON encoders may do.
  const slashed = `\\u${TOKEN.charCodeAt(0).toString(16).padStart(4, '0')}${TOKEN.slice(1).replace(/\//g, '\\/')}`
  for (const status of [400, 500]) {
    const srv = await serve(t, reply(status, `{"errors":["you sent ${escaped}"],"auth":"Basic ${slashed}"}`))
    const err = await fetchError(client(t, srv.url))
    assertNoSecret(t, err)
    const message = (err as Error).message
    t.notOk(message.includes(escaped) || message.includes(slashed), `${status}: not even escaped`)
    t.match(message, /you sent \[REDACTED\].*Basic \[REDACTED\]/, `${status}: the rest is quoted`)
  }
})

t.test('getSecret is called per request: a rotated secret is used on the next request', async (t) => {
  const srv = await serve(t, reply(204))
  let secret = 'first-secret'
  let calls = 0
  const c = client(t, srv.url, {
    getSecret: () => {
      calls++
      return secret
    },
  })
  await c.fetchWindow(WINDOW)
  secret = 'second-secret'
  await c.fetchWindow(WINDOW)
  t.equal(calls, 2)
  t.equal(srv.requests[0]?.headers.authorization, `Basic ${Buffer.from(`${PRINCIPAL}:first-secret`).toString('base64')}`)
  t.equal(srv.requests[1]?.headers.authorization, `Basic ${Buffer.from(`${PRINCIPAL}:second-secret`).toString('base64')}`)
})

t.test('rotation against the simulator: 401 until the new secret is read', async (t) => {
  const sim = await startSimulator({ principal: PRINCIPAL, secret: 'old', now: () => NOW })
  t.teardown(() => sim.close())
  let secret = 'old'
  const c = client(t, sim.url, { getSecret: () => secret })
  t.equal((await c.fetchWindow(WINDOW)).status, 200)
  sim.setCredentials(PRINCIPAL, 'new')
  t.type(await fetchError(c), SiemAuthError)
  secret = 'new'
  t.equal((await c.fetchWindow(WINDOW)).status, 200)
})

t.test('keep-alive: one connection serves successive requests, error bodies included', async (t) => {
  let n = 0
  const srv = await serve(t, (req, res) => {
    n++
    if (n === 2) return reply(500, 'x'.repeat(10_000), { 'content-type': 'text/plain' })(req, res)
    if (n === 3) return reply(400, '{"message":"bad"}')(req, res)
    return reply(200, FIXTURE)(req, res)
  })
  const c = client(t, srv.url)
  await c.fetchWindow(WINDOW)
  t.type(await fetchError(c), SiemServerError)
  t.type(await fetchError(c), SiemBadRequestError)
  await c.fetchWindow(WINDOW)
  t.equal(srv.connections, 1)
})

t.test('an error body cut short still gives the status error', async (t) => {
  const srv = await serve(t, (_req, res) => {
    res.writeHead(502, { 'content-type': 'text/plain', 'content-length': '100000' })
    res.write('upstream went away')
    setTimeout(() => res.socket?.destroy(), 20)
  })
  const err = await fetchError(client(t, srv.url))
  t.type(err, SiemServerError)
  t.equal((err as SiemServerError).status, 502)
  t.match((err as Error).message, /502: upstream went away/)
})

t.test('a large error body is read only in part and the connection is dropped, not leaked', async (t) => {
  let n = 0
  const big = Buffer.alloc(1024 * 1024, 'e')
  const srv = await serve(t, (req, res) => {
    n++
    if (n === 1) return reply(503, big, { 'content-type': 'text/plain' })(req, res)
    return reply(204)(req, res)
  })
  const c = client(t, srv.url)
  const err = await fetchError(c)
  t.type(err, SiemServerError)
  t.ok((err as Error).message.length < 400)
  t.equal((await c.fetchWindow(WINDOW)).status, 204, 'the client still works')
})

t.test('a given dispatcher is used and left open by close(); close() is idempotent', async (t) => {
  const srv = await serve(t, reply(204))
  const agent = new Agent()
  t.teardown(() => agent.close())
  const c = new SiemClient({ baseUrl: srv.url, principal: PRINCIPAL, getSecret: () => SECRET, eventTypes: [], timeoutMs: 1000, dispatcher: agent })
  t.equal((await c.fetchWindow(WINDOW)).status, 204)
  await c.close()
  t.equal(agent.closed, false)
  const own = new SiemClient({ baseUrl: srv.url, principal: PRINCIPAL, getSecret: () => SECRET, eventTypes: [], timeoutMs: 1000 })
  await own.fetchWindow(WINDOW)
  await Promise.all([own.close(), own.close()])
  await own.close()
  const after = await fetchError(own)
  t.ok(after instanceof Error, 'a closed client does not send')
})

t.test('parser: any chunking gives what JSON.parse gives', async (t) => {
  const doc = FIXTURE
  const j = JSON.parse(doc.toString('utf8')) as Record<string, unknown>
  for (const size of [1, 2, 3, 7, 64, 1000, doc.length]) {
    const p = new SiemBodyParser()
    for (let i = 0; i < doc.length; i += size) p.write(doc.subarray(i, i + size))
    const r = p.end()
    t.equal(r.queryEndTime, j.queryEndTime)
    for (const type of EVENT_TYPES) t.same(r.events[type], j[type], `chunk ${size}: ${type}`)
    t.equal(p.bytes, doc.length)
  }
})

t.test('parser: strings with escapes, brackets, multibyte characters; BOM; repeated keys; unwanted types skipped', async (t) => {
  const tricky = {
    queryEndTime: '2026-11-24T12:00:00Z',
    other: { nested: ['[', ']', '{', '}', '"', '\\'], n: -1.5e3, b: true, z: null },
    messagesDelivered: [
      { subject: 'a "quoted" ] } [ { \\ \\" end\\', emoji: '📈 Ärger 张伟', s: '\u2028\u0001' },
      [1, [2, [3]]],
      'scalar-string',
      42,
      null,
      false,
    ],
    clicksPermitted: [{ a: '}]' }],
  }
  const text = Buffer.from(`\ufeff ${JSON.stringify(tricky, null, 2)}\n`)
  for (const size of [1, 5, text.length]) {
    const p = new SiemBodyParser(['messagesDelivered'])
    for (let i = 0; i < text.length; i += size) p.write(text.subarray(i, i + size))
    const r = p.end()
    t.same(r.events.messagesDelivered, tricky.messagesDelivered)
    t.same(r.events.clicksPermitted, [], 'not wanted: skipped')
    t.equal(r.queryEndTime, '2026-11-24T12:00:00Z')
  }
  const p = new SiemBodyParser()
  p.write(Buffer.from('{"messagesBlocked":[{"a":1}],"messagesBlocked":[{"b":2}],"queryEndTime":5}'))
  const r = p.end()
  t.same(r.events.messagesBlocked, [{ a: 1 }, { b: 2 }], 'both kept (JSON.parse would keep the last): nothing the API sent is dropped')
  t.equal(r.queryEndTime, undefined, 'a queryEndTime that is not a string is ignored')
  const e = new SiemBodyParser()
  e.write(Buffer.from('{}'))
  t.same(e.end().empty, false)
  const known = new SiemBodyParser(['clicksBlocked'])
  known.write(Buffer.from('{"messagesDelivered":[],"extra":{"x":1}}'))
  t.same(known.end().events.clicksBlocked, [], 'one of the API\'s fields, even unwanted, and others besides: an answer')
})

t.test('parser: every truncation of a body is detected', async (t) => {
  const doc = Buffer.from(JSON.stringify({ queryEndTime: 'x', messagesDelivered: [{ a: 'b"c', d: [1, { e: null }] }], clicksBlocked: [1, true] }))
  let errors = 0
  for (let cut = 1; cut < doc.length; cut++) {
    const p = new SiemBodyParser()
    try {
      p.write(doc.subarray(0, cut))
      p.end()
      t.fail(`cut at ${cut} accepted`)
    } catch (err) {
      t.type(err, BodyFormatError)
      errors++
    }
  }
  t.equal(errors, doc.length - 1)
})

t.test('parser: a short foreign body fed byte by byte is described at the end', async (t) => {
  const p = new SiemBodyParser()
  for (const b of Buffer.from('Error: upstream timeout')) p.write(Buffer.from([b]))
  t.throws(() => p.end(), { message: /not JSON/ })
  t.equal(p.headText(), 'Error: upstream timeout')
  const big = new SiemBodyParser()
  t.throws(() => {
    for (let i = 0; i < 100; i++) big.write(Buffer.from('<p>0123456789</p>'))
  }, { message: /HTML/ }, 'a long one is described as soon as the head is in')
})

t.test('describeForeignBody', async (t) => {
  t.match(describeForeignBody('  <html>'), /HTML/)
  t.match(describeForeignBody('<?xml version="1.0"?>'), /syslog|HTML or XML/)
  t.match(describeForeignBody('-12'), /JSON value/)
  t.match(describeForeignBody('hello'), /not JSON/)
})

t.test("a request's seconds: the API's time, not the time the caller held the batches (mapping, exporting)", async (t) => {
  // A clock only the API (500 ms to answer) and the caller (10 s per batch it holds) move.
  let clock = 0
  const events = '{"id":"a"},{"id":"b"},{"id":"c"}'
  const whole = await serve(t, (req, res) => {
    clock += 500
    reply(200, `{"messagesDelivered":[${events},{"id":"d"}]}`)(req, res)
  })
  const answer = client(t, whole.url, { elapsed: () => clock }).events(WINDOW, undefined, 2)
  for await (const _batch of answer) {
    t.equal(answer.answered?.seconds, 0.5, 'so far, when a batch is handed over')
    clock += 10_000
  }
  t.equal(answer.summary?.seconds, 0.5, 'at the end of the body: the caller held it 10 s of the 10.5 s')

  const cut = await serve(t, (_req, res) => {
    clock += 500
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' })
    res.write(`{"messagesDelivered":[${events},`)
    setTimeout(() => res.socket?.destroy(), 20)
  })
  clock = 0
  const failing = client(t, cut.url, { elapsed: () => clock }).events(WINDOW, undefined, 2)
  const err = await (async () => {
    for await (const _batch of failing) clock += 10_000
  })().catch((e: unknown) => e)
  t.type(err, SiemNetworkError, 'the body was cut')
  t.equal((err as SiemNetworkError).seconds, 0.5, 'a failure after the body started: the API\'s time too')
})
